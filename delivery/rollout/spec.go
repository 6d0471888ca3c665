package rollout

import (
	"fmt"
	"math"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// Spec is a staged rollout as its author writes it: which version of
// which model goes to which devices, in which stages, watched by which
// gates.
type Spec struct {
	// ID names the rollout; it is also the default membership salt's
	// suffix.
	ID    string `json:"id"`
	Model string `json:"model"`
	// Version is the candidate being rolled out.
	Version string `json:"version"`
	// Current is the version the targeted devices run now: the control
	// the gates compare against, and what the director serves to
	// non-members and to everyone after a rollback or a kill.
	Current string `json:"current"`
	// Rule selects the eligible devices; the zero Rule admits all.
	Rule targeting.Rule `json:"rule"`
	// Salt is the membership salt; empty means "rollout/" + ID. Keeping the
	// salt across stages is what makes raising the share never remove a
	// device.
	Salt string `json:"salt,omitempty"`
	// Stages are the shares the candidate bakes at, in increasing order,
	// each below 100 %. After the last stage passes its gates the rollout
	// completes and every eligible device gets the candidate (100 %).
	Stages []Stage `json:"stages"`
	// Gates must all pass for a stage to advance; any one failing rolls
	// the rollout back.
	Gates []Gate `json:"gates"`
}

// Stage is one step of a rollout.
type Stage struct {
	// Share is the candidate's share of eligible units in basis points
	// (targeting.Buckets = 100 %).
	Share uint32 `json:"share"`
	// Bake is the minimum time at this stage before it may advance.
	Bake time.Duration `json:"bake"`
}

// Direction says which way a metric is good.
type Direction int

const (
	// LowerIsBetter: failures, errors, latency.
	LowerIsBetter Direction = iota
	// HigherIsBetter: accuracy, crash-free sessions.
	HigherIsBetter
)

func (d Direction) String() string {
	if d == HigherIsBetter {
		return "higher-is-better"
	}
	return "lower-is-better"
}

// Gate compares one metric of the candidate with the current version.
//
// The regression r is the candidate's change in the bad direction
// (candidate − current for LowerIsBetter, current − candidate for
// HigherIsBetter; divided by the current's mean when Relative). With the
// always-valid 1 − α interval [lo, hi] of r (experiment's confidence
// sequence, so evaluating every few seconds is safe), the gate
//
//   - fails when lo > MaxRegression: the candidate is significantly worse
//     than the tolerance;
//   - passes when hi ≤ MaxRegression: the candidate is significantly no
//     worse than the tolerance (non-inferiority);
//   - is inconclusive otherwise, and when the analysis cannot be done yet
//     (too few units, no variance): the stage holds.
//
// Each decision errs with probability at most α/2 over all looks.
type Gate struct {
	// Metric names the health or quality stream, e.g. "inference_errors".
	Metric string `json:"metric"`
	// Kind is experiment.MetricProportion (Sum = events with the outcome,
	// N = events) or experiment.MetricMean (per-unit values).
	Kind      experiment.Metric `json:"kind"`
	Direction Direction         `json:"direction"`
	// MaxRegression is the tolerated regression, in the metric's units
	// (a fraction of the current's mean when Relative); ≥ 0.
	MaxRegression float64 `json:"max_regression"`
	Relative      bool    `json:"relative,omitempty"`
	// Confidence is 1 − α; zero means 0.95.
	Confidence float64 `json:"confidence,omitempty"`
	// Tuning is the confidence sequence's N* (total units at which it is
	// tightest); zero means experiment.DefaultTuning.
	Tuning float64 `json:"tuning,omitempty"`
	// MinUnits is the candidate arm's size below which the gate is
	// inconclusive whatever the interval says. The confidence sequences
	// are asymptotic (they lean on the central limit theorem), and a
	// released count's fresh DP noise at each look dominates a small
	// arm, so tiny early samples must not decide.
	MinUnits float64 `json:"min_units,omitempty"`
}

func (g *Gate) alpha() float64 {
	if g.Confidence == 0 {
		return 1 - 0.95
	}
	return 1 - g.Confidence
}

func (g *Gate) validate() error {
	if g.Metric == "" {
		return fmt.Errorf("gate has no metric")
	}
	if g.Kind != experiment.MetricMean && g.Kind != experiment.MetricProportion {
		return fmt.Errorf("gate %s: unknown metric kind %d", g.Metric, g.Kind)
	}
	if g.Direction != LowerIsBetter && g.Direction != HigherIsBetter {
		return fmt.Errorf("gate %s: unknown direction %d", g.Metric, g.Direction)
	}
	if !(g.MaxRegression >= 0) || math.IsInf(g.MaxRegression, 0) {
		return fmt.Errorf("gate %s: max regression %g must be finite and ≥ 0", g.Metric, g.MaxRegression)
	}
	if g.Confidence != 0 && !(g.Confidence > 0 && g.Confidence < 1) {
		return fmt.Errorf("gate %s: confidence %g not in (0, 1)", g.Metric, g.Confidence)
	}
	if g.Tuning < 0 || math.IsNaN(g.Tuning) || math.IsInf(g.Tuning, 0) {
		return fmt.Errorf("gate %s: tuning %g must be ≥ 0", g.Metric, g.Tuning)
	}
	if !(g.MinUnits >= 0) || math.IsInf(g.MinUnits, 0) {
		return fmt.Errorf("gate %s: min units %g must be ≥ 0", g.Metric, g.MinUnits)
	}
	return nil
}

func (s *Spec) salt() string {
	if s.Salt != "" {
		return s.Salt
	}
	return "rollout/" + s.ID
}

// Validate checks the spec: names, rule, strictly increasing stage shares
// in (0, 100 %), non-negative bakes, well-formed and distinct gates.
// Errors wrap delivery.ErrInvalid.
func (s *Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return delivery.Errorf(delivery.ErrInvalid, "rollout %s: "+format, append([]any{s.ID}, args...)...)
	}
	switch {
	case s.ID == "":
		return delivery.Errorf(delivery.ErrInvalid, "rollout has no id")
	case s.Model == "":
		return bad("no model")
	case s.Version == "" || s.Current == "":
		return bad("candidate and current versions are required")
	case s.Version == s.Current:
		return bad("candidate %s is the current version", s.Version)
	case len(s.Stages) == 0:
		return bad("no stages")
	}
	if err := s.Rule.Validate(); err != nil {
		return bad("%v", err)
	}
	var prev uint32
	for i, st := range s.Stages {
		if st.Share == 0 || st.Share >= targeting.Buckets || st.Share <= prev {
			return bad("stage %d share %d: shares must increase within (0, %d)", i, st.Share, targeting.Buckets)
		}
		if st.Bake < 0 {
			return bad("stage %d has a negative bake time", i)
		}
		prev = st.Share
	}
	seen := map[string]bool{}
	for i := range s.Gates {
		g := &s.Gates[i]
		if err := g.validate(); err != nil {
			return bad("%v", err)
		}
		if seen[g.Metric] {
			return bad("two gates on metric %s", g.Metric)
		}
		seen[g.Metric] = true
	}
	return nil
}
