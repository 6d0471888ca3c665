package eval

import (
	"errors"
	"math"
	"slices"
)

// errRegression is returned by regression metrics on other tasks.
var errRegression = errors.New("eval: a regression metric needs a regression task")

// residuals returns prediction − label per example.
func residuals(o *Outputs) ([]float64, error) {
	if o.Task != Regression {
		return nil, errRegression
	}
	r := make([]float64, len(o.Labels))
	for i, y := range o.Labels {
		r[i] = o.Scores.Values[i] - y
	}
	return r, nil
}

// mae is the mean absolute error, mean |ŷ − y|.
type mae struct{}

func (mae) Name() string         { return "mae" }
func (mae) HigherIsBetter() bool { return false }
func (mae) PerExample(o *Outputs) (Values, error) {
	r, err := residuals(o)
	for i := range r {
		r[i] = math.Abs(r[i])
	}
	return Values{Arity: 1, X: r}, err
}
func (mae) Aggregate(v Values, idx []int, _ []float64) float64 { return meanOf(v, idx) }

// rmse is the root mean squared error, sqrt(mean (ŷ − y)²); per example it
// keeps the squared error, and the square root is taken after averaging.
type rmse struct{}

func (rmse) Name() string         { return "rmse" }
func (rmse) HigherIsBetter() bool { return false }
func (rmse) PerExample(o *Outputs) (Values, error) {
	r, err := residuals(o)
	for i := range r {
		r[i] *= r[i]
	}
	return Values{Arity: 1, X: r}, err
}
func (rmse) Aggregate(v Values, idx []int, _ []float64) float64 { return math.Sqrt(meanOf(v, idx)) }

// MAPEMinLabel is the smallest |y| MAPE divides by; examples with smaller
// labels are left out of MAPE (and only of MAPE).
const MAPEMinLabel = 1e-9

// mape is the mean absolute percentage error as a fraction (0.1 is 10%),
// mean |ŷ − y| / |y| over the examples with |y| ≥ MAPEMinLabel. Conventions
// differ on zero labels and on the denominator (Hyndman & Koehler, "Another
// look at measures of forecast accuracy", IJF 2006, §3.2); this is their
// MAPE without the factor 100, with zero labels excluded.
type mape struct{}

func (mape) Name() string         { return "mape" }
func (mape) HigherIsBetter() bool { return false }
func (mape) PerExample(o *Outputs) (Values, error) {
	r, err := residuals(o)
	for i := range r {
		if y := math.Abs(o.Labels[i]); y >= MAPEMinLabel {
			r[i] = math.Abs(r[i]) / y
		} else {
			r[i] = math.NaN()
		}
	}
	return Values{Arity: 1, X: r}, err
}
func (mape) Aggregate(v Values, idx []int, _ []float64) float64 { return meanOf(v, idx) }

// p90AbsError is the 0.9 quantile of |ŷ − y|, interpolating linearly
// between order statistics (Hyndman & Fan, "Sample quantiles in statistical
// packages", Am. Stat. 1996, definition 7 — NumPy's and R's default).
type p90AbsError struct{}

func (p90AbsError) Name() string                          { return "p90-abs-error" }
func (p90AbsError) HigherIsBetter() bool                  { return false }
func (p90AbsError) PerExample(o *Outputs) (Values, error) { return mae{}.PerExample(o) }
func (p90AbsError) Aggregate(v Values, idx []int, scratch []float64) float64 {
	xs := scratch[:0]
	for _, i := range idx {
		if x := v.X[i*v.Arity]; !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	return Quantile(xs, 0.9)
}

// Quantile returns the q quantile of xs (Hyndman & Fan definition 7: with
// h = (n−1)q, x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]) over the sorted
// values). It reorders xs; NaN when xs is empty.
func Quantile(xs []float64, q float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	h := float64(n-1) * q
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return slices.Max(xs)
	}
	a := selectKth(xs, lo)
	// The next order statistic is the minimum of the part above lo.
	b := slices.Min(xs[lo+1:])
	return a + (h-float64(lo))*(b-a)
}

// selectKth partially orders xs so xs[k] is its k-th smallest value, with
// no larger value before it and no smaller one after it (Hoare's
// selection, median-of-three pivots), and returns xs[k].
func selectKth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three into xs[mid]
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		p := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < p {
				i++
			}
			for xs[j] > p {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
