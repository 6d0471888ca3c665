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
	// Temperature is the candidate's calibration temperature (its bundle's
	// calibration.temperature): logits are divided by it before the
	// softmax. 0 means 1.
	Temperature float64
}

// Evaluate scores cand (and base, when not nil) on every example of d and
// estimates every metric on every slice. The report's Model and Baseline
// carry the predictors' names; callers fill in versions and paths.
func Evaluate(ctx context.Context, d *dataset.Dataset, cand, base Predictor, cfg Config) (*Report, error) {
	if d.N == 0 {
		return nil, fmt.Errorf("eval: the data set has no examples")
	}
	labels, err := Labels(d, cfg.Labels)
	if err != nil {
		return nil, err
	}
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
		return nil, err
	}
	r := &Report{
		Schema:    Schema,
		Model:     ModelInfo{Name: cand.Name(), Kind: kindOf(cand)},
		Data:      DataInfo{Path: d.Path, Format: d.Format, Examples: d.N},
		Task:      cfg.Task,
		Labels:    cfg.Labels,
		Bootstrap: cfg.Bootstrap.withDefaults(),
		ECEBins:   bins,
		Pass:      true,
	}
	for _, m := range metrics {
		r.Metrics = append(r.Metrics, MetricInfo{Name: m.Name(), HigherIsBetter: m.HigherIsBetter()})
	}
	candOut, candVals, err := score(ctx, cand, d, labels, metrics, cfg, cfg.Temperature)
	if err != nil {
		return nil, err
	}
	if cfg.Task != Regression {
		r.Scores = candOut.Kind
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
	for _, s := range slices {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		est := r.Bootstrap.Run(s.Key(), metrics, candVals, baseVals, s.Index)
		sr := SliceResult{Key: s.Key(), Column: s.Column, Value: s.Value, Examples: len(s.Index), Metrics: map[string]Estimate{}}
		for j, m := range metrics {
			sr.Metrics[m.Name()] = est[j]
		}
		r.Slices = append(r.Slices, sr)
	}
	if cfg.Task != Regression {
		all := slices[0].Index
		c := &Calibration{}
		if c.Candidate, err = Reliability(candOut, all, bins); err != nil {
			return nil, err
		}
		if baseOut != nil {
			if c.Baseline, err = Reliability(baseOut, all, bins); err != nil {
				return nil, err
			}
		}
		r.Calibration = c
		if err := candOut.prepare(); err != nil {
			return nil, err
		}
		r.RiskCoverage = NewRiskCoverage(candOut.conf, candOut.correct, all, DefaultRiskCoveragePoints)
	}
	return r, nil
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
