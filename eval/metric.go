package eval

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Task says how a model's outputs and labels are read.
type Task string

// The tasks.
const (
	// Ranking: K scores per example, one per candidate; the label is the
	// index of the candidate that happened.
	Ranking Task = "ranking"
	// Classification: K scores per example, one per class (or a single
	// score for the positive class of a binary problem); the label is the
	// class index.
	Classification Task = "classification"
	// Regression: one predicted value per example; the label is the true
	// value.
	Regression Task = "regression"
)

// ParseTask reads a task name.
func ParseTask(s string) (Task, error) {
	switch t := Task(strings.ToLower(s)); t {
	case Ranking, Classification, Regression:
		return t, nil
	}
	return "", fmt.Errorf("eval: unknown task %q (want ranking, classification or regression)", s)
}

// Values holds a metric's per-example components: Arity numbers per example,
// row-major. Most metrics have one component (e.g. 1 or 0 for Acc@1); ECE
// has two (confidence, correctness). NaN marks an example the metric does
// not cover (e.g. MAPE at a zero label).
type Values struct {
	Arity int
	X     []float64
}

// Len is the number of examples.
func (v Values) Len() int {
	if v.Arity == 0 {
		return 0
	}
	return len(v.X) / v.Arity
}

// Metric is one entry of the registry. PerExample runs once per model;
// Aggregate runs once per slice and bootstrap replicate over the examples
// idx (which may repeat), so it must not keep idx. scratch, when long
// enough, may be used as working memory.
type Metric interface {
	Name() string
	HigherIsBetter() bool
	PerExample(o *Outputs) (Values, error)
	Aggregate(v Values, idx []int, scratch []float64) float64
}

// Lookup returns the metric with the given name: acc@K, mrr, ndcg@K,
// log-loss, ece (ece/M for M bins), mae, rmse, mape, p90-abs-error (case-insensitive; "_" and
// "-" are interchangeable; "accuracy" is acc@1).
func Lookup(name string) (Metric, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
	if n == "accuracy" {
		n = "acc@1"
	}
	if base, k, ok := strings.Cut(n, "@"); ok {
		kk, err := strconv.Atoi(k)
		if err != nil || kk < 1 {
			return nil, fmt.Errorf("eval: metric %q: cutoff must be a positive integer", name)
		}
		switch base {
		case "acc":
			return accAt{k: kk}, nil
		case "ndcg":
			return ndcgAt{k: kk}, nil
		}
		return nil, fmt.Errorf("eval: unknown metric %q (known: %s)", name, strings.Join(MetricNames(), ", "))
	}
	if e, ok := parseECEName(n); ok {
		return e, nil
	}
	switch n {
	case "mrr":
		return mrr{}, nil
	case "log-loss", "logloss":
		return logLoss{}, nil
	case "ece":
		return ECE{Bins: DefaultECEBins}, nil
	case "mae":
		return mae{}, nil
	case "rmse":
		return rmse{}, nil
	case "mape":
		return mape{}, nil
	case "p90-abs-error", "p90":
		return p90AbsError{}, nil
	}
	return nil, fmt.Errorf("eval: unknown metric %q (known: %s)", name, strings.Join(MetricNames(), ", "))
}

// MetricNames lists the registry's names (K stands for a cutoff).
func MetricNames() []string {
	return []string{"acc@K", "mrr", "ndcg@K", "log-loss", "ece", "mae", "rmse", "mape", "p90-abs-error"}
}

// DefaultMetrics are the metrics reported for a task when none are named.
func DefaultMetrics(t Task) []string {
	switch t {
	case Ranking:
		return []string{"acc@1", "acc@5", "mrr", "ndcg@5", "log-loss", "ece"}
	case Classification:
		return []string{"acc@1", "log-loss", "ece"}
	}
	return []string{"mae", "rmse", "mape", "p90-abs-error"}
}

// meanOf is the mean of component 0 over idx, skipping NaNs; NaN when
// nothing remains.
func meanOf(v Values, idx []int) float64 {
	s, n := 0.0, 0
	for _, i := range idx {
		x := v.X[i*v.Arity]
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// needRank rejects tasks without K scores per example.
func needRank(o *Outputs, name string) error {
	if o.Task == Regression {
		return fmt.Errorf("eval: %s needs a ranking or classification task", name)
	}
	return o.prepare()
}

// accAt is Acc@k (top-k accuracy, hit rate at k): 1 when the label's rank
// (see Outputs.Rank) is at most k, else 0; the mean over examples.
type accAt struct{ k int }

func (m accAt) Name() string         { return "acc@" + strconv.Itoa(m.k) }
func (m accAt) HigherIsBetter() bool { return true }
func (m accAt) PerExample(o *Outputs) (Values, error) {
	if err := needRank(o, m.Name()); err != nil {
		return Values{}, err
	}
	x := make([]float64, len(o.rank))
	for i, r := range o.rank {
		if r <= m.k {
			x[i] = 1
		}
	}
	return Values{Arity: 1, X: x}, nil
}
func (m accAt) Aggregate(v Values, idx []int, _ []float64) float64 { return meanOf(v, idx) }

// mrr is the mean reciprocal rank, 1/rank of the label averaged over
// examples, over all K candidates (no cutoff) — Voorhees, "The TREC-8
// Question Answering Track Report", 1999.
type mrr struct{}

func (mrr) Name() string         { return "mrr" }
func (mrr) HigherIsBetter() bool { return true }
func (m mrr) PerExample(o *Outputs) (Values, error) {
	if err := needRank(o, m.Name()); err != nil {
		return Values{}, err
	}
	x := make([]float64, len(o.rank))
	for i, r := range o.rank {
		x[i] = 1 / float64(r)
	}
	return Values{Arity: 1, X: x}, nil
}
func (mrr) Aggregate(v Values, idx []int, _ []float64) float64 { return meanOf(v, idx) }

// ndcgAt is NDCG@k with one relevant item of gain 1 (Järvelin & Kekäläinen,
// "Cumulated gain-based evaluation of IR techniques", TOIS 2002, with the
// log2(rank+1) discount of Burges et al., ICML 2005): the ideal DCG is 1, so
// an example scores 1/log2(rank+1) when rank ≤ k and 0 otherwise.
type ndcgAt struct{ k int }

func (m ndcgAt) Name() string         { return "ndcg@" + strconv.Itoa(m.k) }
func (m ndcgAt) HigherIsBetter() bool { return true }
func (m ndcgAt) PerExample(o *Outputs) (Values, error) {
	if err := needRank(o, m.Name()); err != nil {
		return Values{}, err
	}
	x := make([]float64, len(o.rank))
	for i, r := range o.rank {
		if r <= m.k {
			x[i] = 1 / math.Log2(float64(r)+1)
		}
	}
	return Values{Arity: 1, X: x}, nil
}
func (m ndcgAt) Aggregate(v Values, idx []int, _ []float64) float64 { return meanOf(v, idx) }

// LogLossEpsilon clips the label's probability from below, so one confident
// mistake costs at most −ln(1e-15) ≈ 34.5 (scikit-learn's former default).
const LogLossEpsilon = 1e-15

// logLoss is the mean negative log-likelihood of the label, −ln p(label),
// natural log, with p from the softmax of logits (or the probabilities as
// given, see ScoreKind) clipped to [LogLossEpsilon, 1].
type logLoss struct{}

func (logLoss) Name() string         { return "log-loss" }
func (logLoss) HigherIsBetter() bool { return false }
func (m logLoss) PerExample(o *Outputs) (Values, error) {
	if err := needRank(o, m.Name()); err != nil {
		return Values{}, err
	}
	x := make([]float64, len(o.pLabel))
	for i, p := range o.pLabel {
		x[i] = -math.Log(min(max(p, LogLossEpsilon), 1))
	}
	return Values{Arity: 1, X: x}, nil
}
func (logLoss) Aggregate(v Values, idx []int, _ []float64) float64 { return meanOf(v, idx) }
