package experiment

import (
	"errors"
	"fmt"
	"math"
)

// Errors callers branch on: an analysis that cannot be done yet is
// inconclusive, never a pass.
var (
	// ErrTooFewUnits: an arm has fewer than two units.
	ErrTooFewUnits = errors.New("experiment: an arm has fewer than two units")
	// ErrZeroVariance: an arm's metric has no variance, so no interval
	// can be formed.
	ErrZeroVariance = errors.New("experiment: an arm's metric has zero variance")
	// ErrZeroBaseline: a relative effect was asked for and the control
	// mean is zero.
	ErrZeroBaseline = errors.New("experiment: control mean is zero, relative lift undefined")
	// ErrInvalid: the input is malformed (negative counts, successes
	// above n, NaN, bad α).
	ErrInvalid = errors.New("experiment: invalid input")
)

// Summary is one arm's sufficient statistics for a metric: the number of
// units and the sum and sum of squares of their values. For a proportion
// Sum is the number of successes and SumSquares is ignored.
type Summary struct {
	N          float64 `json:"n"`
	Sum        float64 `json:"sum"`
	SumSquares float64 `json:"sum_squares"`
	// NoiseVariance is the variance that differential-privacy noise adds
	// to the arm's released mean (privacy/aggregate Estimate.NoiseVariance);
	// zero for exact data. It is added to the sampling variance of the mean.
	NoiseVariance float64 `json:"noise_variance,omitempty"`
}

// Mean is Σx/n (0 for an empty arm).
func (s Summary) Mean() float64 {
	if s.N == 0 {
		return 0
	}
	return s.Sum / s.N
}

// Variance is the sample variance (Σx² − (Σx)²/n)/(n − 1), gbstats'
// SampleMeanStatistic convention (0 for n ≤ 1).
func (s Summary) Variance() float64 {
	if s.N <= 1 {
		return 0
	}
	return (s.SumSquares - s.Sum*s.Sum/s.N) / (s.N - 1)
}

// ProportionVariance is p(1 − p) with p = Sum/N, gbstats'
// ProportionStatistic convention (no n − 1 correction).
func (s Summary) ProportionVariance() float64 {
	p := s.Mean()
	return p * (1 - p)
}

func (s Summary) check(what string, proportion bool) error {
	for _, v := range []float64{s.N, s.Sum, s.SumSquares, s.NoiseVariance} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: %s has a non-finite statistic", ErrInvalid, what)
		}
	}
	if s.N < 0 || s.NoiseVariance < 0 {
		return fmt.Errorf("%w: %s has a negative count or noise variance", ErrInvalid, what)
	}
	if proportion && (s.Sum < 0 || s.Sum > s.N) {
		return fmt.Errorf("%w: %s has %g successes of %g", ErrInvalid, what, s.Sum, s.N)
	}
	return nil
}

// arm is what the tests need of one arm: the estimate, the baseline a
// relative lift divides by, the per-unit variance and the count.
type arm struct {
	n, mean, base, v, noise float64
}

// varMean is the variance of the arm's mean: sampling plus DP noise.
func (a arm) varMean() float64 { return a.v/a.n + a.noise }

func meanArm(s Summary) arm {
	m := s.Mean()
	return arm{n: s.N, mean: m, base: m, v: s.Variance(), noise: s.NoiseVariance}
}

func proportionArm(s Summary) arm {
	m := s.Mean()
	return arm{n: s.N, mean: m, base: m, v: s.ProportionVariance(), noise: s.NoiseVariance}
}

func checkArms(c, t arm) error {
	if c.n < 2 || t.n < 2 {
		return ErrTooFewUnits
	}
	// An arm whose released values show no spread still has an interval
	// when DP noise of known variance was added: a released count of zero
	// errors is noisy, not certain. Exact data without spread has none.
	if !(c.v > 0 || c.noise > 0) || !(t.v > 0 || t.noise > 0) {
		return ErrZeroVariance
	}
	return nil
}

// welchDF is the Welch–Satterthwaite degrees of freedom of the difference
// of two means with variances-of-the-mean vc, vt:
// (vc + vt)² / (vc²/(n_c − 1) + vt²/(n_t − 1)). With no DP noise this is
// gbstats' formula exactly; noise (of known variance, so infinite df) is
// counted with the arm's df, which errs on the wide side.
func welchDF(c, t arm) float64 {
	vc, vt := c.varMean(), t.varMean()
	return (vc + vt) * (vc + vt) / (vc*vc/(c.n-1) + vt*vt/(t.n-1))
}

// moments is the effect and its variance, before any test.
type moments struct {
	effect, variance, df, n float64
}

// differenceMoments is Δ = μ_t − μ_c with variance V_c + V_t, or the
// relative lift Δ/base_c with its delta-method variance
// V_t/b² + V_c·μ_t²/b⁴ (gbstats frequentist_variance; b = μ_c here).
func differenceMoments(c, t arm, relative bool) (moments, error) {
	if err := checkArms(c, t); err != nil {
		return moments{}, err
	}
	m := moments{df: welchDF(c, t), n: c.n + t.n}
	vc, vt := c.varMean(), t.varMean()
	if !relative {
		m.effect = t.mean - c.mean
		m.variance = vc + vt
		return m, nil
	}
	if c.base == 0 {
		return moments{}, ErrZeroBaseline
	}
	b2 := c.base * c.base
	m.effect = (t.mean - c.mean) / c.base
	m.variance = vt/b2 + vc*t.mean*t.mean/(b2*b2)
	return m, nil
}
