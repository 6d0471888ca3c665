package experiment

import (
	"fmt"
	"math"
)

// Metric is the kind of a metric whose arms are Summaries.
type Metric int

const (
	// MetricMean is a per-unit value (Welch's t on the means).
	MetricMean Metric = iota
	// MetricProportion is a per-unit success (Sum = successes).
	MetricProportion
)

// ParseMetric maps "mean" and "proportion" to a Metric.
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "mean":
		return MetricMean, nil
	case "proportion":
		return MetricProportion, nil
	}
	return 0, fmt.Errorf("%w: unknown metric %q (want mean or proportion)", ErrInvalid, s)
}

// DefaultAlpha is the significance level when Options.Alpha is zero.
const DefaultAlpha = 0.05

// Options configure an analysis. The zero value is a two-sided absolute
// fixed-horizon test at α = 0.05.
type Options struct {
	// Relative reports the lift (μ_t − μ_c)/μ_c instead of μ_t − μ_c.
	Relative bool `json:"relative"`
	// Alpha is the significance level: intervals have coverage 1 − α.
	Alpha float64 `json:"alpha"`
	// Sequential, when set, makes the interval and p-value always valid.
	Sequential *Sequential `json:"sequential"`
}

func (o Options) alpha() (float64, error) {
	a := o.Alpha
	if a == 0 {
		a = DefaultAlpha
	}
	if !(a > 0 && a < 1) {
		return 0, fmt.Errorf("%w: alpha %g not in (0, 1)", ErrInvalid, a)
	}
	return a, nil
}

// Result is a two-sided analysis of treatment against control.
type Result struct {
	// Effect is the estimated difference (or relative lift).
	Effect float64 `json:"effect"`
	// CILow and CIHigh bound the 1 − α interval (always valid when
	// sequential).
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	// SE is the standard error of Effect.
	SE float64 `json:"se"`
	// PValue is the two-sided p-value of "no effect".
	PValue float64 `json:"p_value"`
	// DF is the Welch–Satterthwaite degrees of freedom.
	DF float64 `json:"df"`
}

// Significant reports whether the interval excludes zero.
func (r Result) Significant() bool { return r.CILow > 0 || r.CIHigh < 0 }

// Analyze compares two arms of a mean or proportion metric.
func Analyze(metric Metric, control, treatment Summary, o Options) (Result, error) {
	switch metric {
	case MetricMean:
		return Means(control, treatment, o)
	case MetricProportion:
		return Proportions(control, treatment, o)
	}
	return Result{}, fmt.Errorf("%w: unknown metric %d", ErrInvalid, metric)
}

// Means compares the means of a per-unit metric: Welch's t test, with
// the relative lift's variance by the delta method.
func Means(control, treatment Summary, o Options) (Result, error) {
	if err := control.check("control", false); err != nil {
		return Result{}, err
	}
	if err := treatment.check("treatment", false); err != nil {
		return Result{}, err
	}
	m, err := differenceMoments(meanArm(control), meanArm(treatment), o.Relative)
	if err != nil {
		return Result{}, err
	}
	return m.test(o)
}

// Proportions compares success rates (Sum = successes of N), with the
// variance p(1 − p) per arm and otherwise as Means.
func Proportions(control, treatment Summary, o Options) (Result, error) {
	if err := control.check("control", true); err != nil {
		return Result{}, err
	}
	if err := treatment.check("treatment", true); err != nil {
		return Result{}, err
	}
	m, err := differenceMoments(proportionArm(control), proportionArm(treatment), o.Relative)
	if err != nil {
		return Result{}, err
	}
	return m.test(o)
}

// test turns moments into a result: Welch's t (fixed horizon) or the
// confidence sequence (sequential).
func (m moments) test(o Options) (Result, error) {
	alpha, err := o.alpha()
	if err != nil {
		return Result{}, err
	}
	if !(m.variance > 0) || math.IsInf(m.variance, 0) {
		return Result{}, ErrZeroVariance
	}
	se := math.Sqrt(m.variance)
	r := Result{Effect: m.effect, SE: se, DF: m.df}
	if o.Sequential != nil {
		seq, err := o.Sequential.interval(m.effect, se, m.n, alpha)
		if err != nil {
			return Result{}, err
		}
		r.CILow, r.CIHigh, r.PValue = m.effect-seq.halfwidth, m.effect+seq.halfwidth, seq.p
		return r, nil
	}
	tstat := m.effect / se
	r.PValue = 2 * StudentTSF(math.Abs(tstat), m.df)
	w := StudentTQuantile(1-alpha/2, m.df) * se
	r.CILow, r.CIHigh = m.effect-w, m.effect+w
	return r, nil
}
