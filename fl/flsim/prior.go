package flsim

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
)

// The next-destination mode can start federated learning from a prior —
// the v1 model trained centrally with DP-SGD on a consented donor cohort
// (model.init, a bundle of the same architecture) — and write the final
// global model as a bundle whose provenance carries the privacy cost of
// both (Config.Out).
//
// How the two costs combine depends on who the donors are
// (model.init_cohort): "disjoint" — the donors are not in the federated
// population, so each person's data went through one mechanism only (the
// prior is post-processing for a federated user, the federated rounds are
// post-processing of the prior for a donor) and the model's per-person
// guarantee is the larger (ε, δ) of the two; "overlapping" — donors also
// take part in the rounds, and the costs add (basic composition).

// Init cohorts (ModelSpec.InitCohort).
const (
	CohortDisjoint    = "disjoint"
	CohortOverlapping = "overlapping"
)

// prior is the starting model of a federated run.
type prior struct {
	path     string
	manifest bundle.Manifest
	weights  []float32 // every float32 parameter, layout order of "*"
}

// loadPrior reads a bundle whose float32 parameters have the names and
// sizes of g's, the freshly built architecture.
func loadPrior(path string, g *graph.Graph) (*prior, error) {
	b, err := bundle.Open(path)
	if err != nil {
		return nil, fmt.Errorf("flsim: model.init: %w", err)
	}
	defer b.Close()
	want, err := client.NewLayout(g, []string{"*"})
	if err != nil {
		return nil, err
	}
	got, err := client.NewLayout(b.Graph, []string{"*"})
	if err != nil {
		return nil, fmt.Errorf("flsim: model.init %s: %w", path, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return nil, fmt.Errorf("flsim: model.init %s: its parameters %v %v are not the model's %v %v (same architecture and model.hidden?)",
			path, got.Names, got.Sizes, want.Names, want.Sizes)
	}
	w, err := got.Flatten(b.Graph) // a copy: the bundle's tensors are mapped read-only
	if err != nil {
		return nil, fmt.Errorf("flsim: model.init %s: %w", path, err)
	}
	return &prior{path: path, manifest: *b.Manifest, weights: w}, nil
}

// combinedCost is the model's per-person (ε, δ) after federated rounds
// that cost fed, starting from a prior of the cohort kind; nil (no
// guarantee) when either step recorded none.
func combinedCost(p *bundle.PrivacyCost, fed *bundle.PrivacyCost, cohort string) *bundle.PrivacyCost {
	if p == nil || fed == nil {
		return nil
	}
	if cohort == CohortDisjoint {
		return &bundle.PrivacyCost{Epsilon: max(p.Epsilon, fed.Epsilon), Delta: max(p.Delta, fed.Delta),
			Accountant: fmt.Sprintf("max over disjoint cohorts: prior %s (ε %.4g, δ %.3g), federated %s (ε %.4g, δ %.3g)",
				p.Accountant, p.Epsilon, p.Delta, fed.Accountant, fed.Epsilon, fed.Delta)}
	}
	return &bundle.PrivacyCost{Epsilon: p.Epsilon + fed.Epsilon, Delta: p.Delta + fed.Delta,
		Accountant: fmt.Sprintf("basic composition: prior %s (ε %.4g, δ %.3g) + federated %s (ε %.4g, δ %.3g)",
			p.Accountant, p.Epsilon, p.Delta, fed.Accountant, fed.Epsilon, fed.Delta)}
}

// writeModel writes g (the architecture with the final weights) as a
// bundle: the prior's manifest (signature, fine-tuning, name) with the
// minor version bumped, the prior as parent, the rounds and the combined
// privacy cost in provenance.
func (p *prior) writeModel(path string, g *graph.Graph, rounds []string, fed *bundle.PrivacyCost, cohort string) (*bundle.Manifest, error) {
	m := p.manifest
	m.ParentVersion, m.Version = m.Version, bumpMinor(m.Version)
	m.Golden, m.Quantization, m.Calibration, m.Ops = nil, nil, nil, nil
	m.Provenance.FederatedRounds = rounds
	m.Provenance.Privacy = combinedCost(m.Provenance.Privacy, fed, cohort)
	m.Provenance.TrainingRun = "sextant fl simulate from " + p.path
	m.Provenance.Producer = bundle.Producer{Tool: "sextant fl simulate"}
	if err := bundle.WriteFile(path, g, &m); err != nil {
		return nil, fmt.Errorf("flsim: write %s: %w", path, err)
	}
	return &m, nil
}

// bumpMinor is semver v with the minor number bumped and the patch reset
// (pre-release and build metadata dropped); 0.1.0 when v does not parse.
func bumpMinor(v string) string {
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) == 3 {
		if n, err := strconv.Atoi(parts[1]); err == nil {
			return fmt.Sprintf("%s.%d.0", parts[0], n+1)
		}
	}
	return "0.1.0"
}

// Scores are ranking metrics of a model on held-out rows: Acc@1, Acc@5,
// MRR and log-loss over N examples.
type Scores struct {
	Acc1    float64 `json:"acc1"`
	Acc5    float64 `json:"acc5"`
	MRR     float64 `json:"mrr"`
	LogLoss float64 `json:"log_loss"`
	N       int     `json:"examples"`
}

// rank scores logits [n, k] against labels: Acc@1, Acc@5, MRR (ties
// broken towards the lower index, as acc1 does) and the mean softmax
// cross-entropy.
func rank(logits []float32, labels []int64) Scores {
	n := len(labels)
	if n == 0 {
		return Scores{}
	}
	k := len(logits) / n
	var s Scores
	for i, y := range labels {
		row := logits[i*k : (i+1)*k]
		ly := row[y]
		r := 1
		for j, v := range row {
			if v > ly || (v == ly && j < int(y)) {
				r++
			}
		}
		if r == 1 {
			s.Acc1++
		}
		if r <= 5 {
			s.Acc5++
		}
		s.MRR += 1 / float64(r)
		s.LogLoss += logSumExp(row) - float64(ly)
	}
	d := float64(n)
	return Scores{Acc1: s.Acc1 / d, Acc5: s.Acc5 / d, MRR: s.MRR / d, LogLoss: s.LogLoss / d, N: n}
}

func logSumExp(row []float32) float64 {
	m := float64(row[0])
	for _, v := range row {
		m = max(m, float64(v))
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v) - m)
	}
	return m + math.Log(sum)
}
