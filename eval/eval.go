package eval

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/dataset"
)

// Config says what to compute.
type Config struct {
	// Task is how outputs and labels are read.
	Task Task
	// Labels is the label column.
	Labels string
	// ScoreKind reads the candidate's (and a model baseline's) scores;
	// "" means AutoScores. Built-in baselines say their own.
	ScoreKind ScoreKind
	// Metrics names the metrics; empty means DefaultMetrics(Task).
	Metrics []string
	// Slices are the cuts reported besides the whole data set.
	Slices []SliceSpec
	// Bootstrap configures the intervals.
	Bootstrap Bootstrap
	// ECEBins is the number of calibration bins; 0 means DefaultECEBins.
	ECEBins int
	// BatchSize is the batch the predictors run at; 0 means 256.
	BatchSize int
	// ChunkRows is about how many rows EvaluateSource reads at a time
	// (rounded up to whole batches); 0 means DefaultChunkRows.
	ChunkRows int
	// Temperature is the candidate's calibration temperature (its bundle's
	// calibration.temperature): logits are divided by it before the
	// softmax. 0 means 1.
	Temperature float64
}

// Evaluate scores cand (and base, when not nil) on every example of d and
// estimates every metric on every slice. The report's Model and Baseline
// carry the predictors' names; callers fill in versions and paths. It
// holds d and both models' scores whole; EvaluateSource computes the same
// report a chunk of rows at a time.
func Evaluate(ctx context.Context, d *dataset.Dataset, cand, base Predictor, cfg Config) (*Report, error) {
	if d.N == 0 {
		return nil, fmt.Errorf("eval: the data set has no examples")
	}
	labels, err := Labels(d, cfg.Labels)
	if err != nil {
		return nil, err
	}
	r, metrics, err := newReport(d.Path, d.Format, d.N, cand, cfg)
	if err != nil {
		return nil, err
	}
	candOut, candVals, err := score(ctx, cand, d, labels, metrics, cfg, cfg.Temperature)
	if err != nil {
		return nil, err
	}
	var baseOut *Outputs
	var baseVals []Values
	if base != nil {
		r.Baseline = &ModelInfo{Name: base.Name(), Kind: kindOf(base)}
		baseOut, baseVals, err = score(ctx, base, d, labels, metrics, cfg, 0)
		if err != nil {
			return nil, err
		}
	}
	slices := []Slice{All(d.N)}
	for _, spec := range cfg.Slices {
		s, err := Slices(d, spec)
		if err != nil {
			return nil, err
		}
		slices = append(slices, s...)
	}
	c, err := scoredOf(candOut, candVals, cfg.Task)
	if err != nil {
		return nil, err
	}
	var b *scored
	if baseOut != nil {
		if b, err = scoredOf(baseOut, baseVals, cfg.Task); err != nil {
			return nil, err
		}
	}
	return r, r.finish(ctx, metrics, slices, c, b, cfg.Task)
}

// newReport starts the report of cand under cfg and resolves the metrics.
func newReport(path, format string, n int, cand Predictor, cfg Config) (*Report, []Metric, error) {
	bins := cfg.ECEBins
	if bins <= 0 {
		bins = DefaultECEBins
	}
	names := cfg.Metrics
	if len(names) == 0 {
		names = DefaultMetrics(cfg.Task)
	}
	metrics, err := lookupAll(names, bins)
	if err != nil {
		return nil, nil, err
	}
	r := &Report{
		Schema:    Schema,
		Model:     ModelInfo{Name: cand.Name(), Kind: kindOf(cand)},
		Data:      DataInfo{Path: path, Format: format, Examples: n},
		Task:      cfg.Task,
		Labels:    cfg.Labels,
		Bootstrap: cfg.Bootstrap.withDefaults(),
		ECEBins:   bins,
		Pass:      true,
	}
	for _, m := range metrics {
		r.Metrics = append(r.Metrics, MetricInfo{Name: m.Name(), HigherIsBetter: m.HigherIsBetter()})
	}
	return r, metrics, nil
}

// scored is what the report needs of one model's scores: every metric's
// per-example values and, for ranking and classification, the score kind
// and each example's confidence and correctness (the reliability diagram
// and the risk–coverage curve).
type scored struct {
	kind          ScoreKind
	vals          []Values
	conf, correct []float64
}

// scoredOf is what the report needs of the outputs o with the metrics'
// values vals.
func scoredOf(o *Outputs, vals []Values, task Task) (*scored, error) {
	sc := &scored{kind: o.Kind, vals: vals}
	if task != Regression {
		if err := o.prepare(); err != nil {
			return nil, err
		}
		sc.conf, sc.correct = o.conf, o.correct
	}
	return sc, nil
}

// finish estimates every metric on every slice (the first is every
// example) and, for ranking and classification, the calibration and the
// risk–coverage curve. base is nil without a baseline.
func (r *Report) finish(ctx context.Context, metrics []Metric, slices []Slice, cand, base *scored, task Task) error {
	if task != Regression {
		r.Scores = cand.kind
	}
	var baseVals []Values
	if base != nil {
		baseVals = base.vals
	}
	for _, s := range slices {
		if err := ctx.Err(); err != nil {
			return err
		}
		est := r.Bootstrap.Run(s.Key(), metrics, cand.vals, baseVals, s.Index)
		sr := SliceResult{Key: s.Key(), Column: s.Column, Value: s.Value, Examples: len(s.Index), Metrics: map[string]Estimate{}}
		for j, m := range metrics {
			sr.Metrics[m.Name()] = est[j]
		}
		r.Slices = append(r.Slices, sr)
	}
	if task != Regression {
		all := slices[0].Index
		c := &Calibration{Candidate: reliability(cand.conf, cand.correct, all, r.ECEBins)}
		if base != nil {
			c.Baseline = reliability(base.conf, base.correct, all, r.ECEBins)
		}
		r.Calibration = c
		r.RiskCoverage = NewRiskCoverage(cand.conf, cand.correct, all, DefaultRiskCoveragePoints)
	}
	return nil
}

func kindOf(p Predictor) string {
	if _, ok := p.(*ModelPredictor); ok {
		return "model"
	}
	return "builtin"
}

// lookupAll resolves metric names, ECE with the configured bins.
func lookupAll(names []string, bins int) ([]Metric, error) {
	var ms []Metric
	seen := map[string]bool{}
	for _, n := range names {
		m, err := Lookup(n)
		if err != nil {
			return nil, err
		}
		if e, ok := m.(ECE); ok && !strings.Contains(n, "/") {
			e.Bins = bins
			m = e
		}
		if !seen[m.Name()] {
			seen[m.Name()] = true
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// score runs p and computes every metric's per-example values.
func score(ctx context.Context, p Predictor, d *dataset.Dataset, labels []float64, metrics []Metric, cfg Config, temperature float64) (*Outputs, []Values, error) {
	s, err := PredictAll(ctx, p, d, cfg.BatchSize)
	if err != nil {
		return nil, nil, err
	}
	kind := cfg.ScoreKind
	if k, ok := p.(ScoreKinder); ok {
		kind = k.ScoreKind()
	}
	o, err := NewOutputs(cfg.Task, kind, s, labels)
	if err != nil {
		return nil, nil, fmt.Errorf("eval: %s: %w", p.Name(), err)
	}
	o.Temperature = temperature
	vals := make([]Values, len(metrics))
	for j, m := range metrics {
		if vals[j], err = m.PerExample(o); err != nil {
			return nil, nil, fmt.Errorf("eval: %s: %s: %w", p.Name(), m.Name(), err)
		}
	}
	return o, vals, nil
}

// parseECEName reads "ece/M".
func parseECEName(n string) (ECE, bool) {
	rest, ok := strings.CutPrefix(n, "ece/")
	if !ok {
		return ECE{}, false
	}
	m, err := strconv.Atoi(rest)
	if err != nil || m < 1 {
		return ECE{}, false
	}
	return ECE{Bins: m}, true
}
