package quant

import (
	"fmt"
	"math"
)

// Method is how Calibrate chooses an activation's range from the values it
// observed.
type Method string

// Calibration methods.
const (
	// MinMax takes the smallest and largest value seen: nothing clipped,
	// resolution spent on outliers.
	MinMax Method = "minmax"
	// Percentile clips the PercentileKept fraction's tails: the range is
	// [the (1−p) quantile, the p quantile] of the observed values (of |x| for
	// symmetric ranges).
	Percentile Method = "percentile"
	// Entropy picks the clipping threshold whose quantized distribution is
	// closest in KL divergence to the observed one (Migacz, "8-bit Inference
	// with TensorRT", GTC 2017: 2048-bin histogram of |x|, thresholds from
	// bin 128 up, 128 quantization levels, outliers folded into the last
	// kept bin).
	Entropy Method = "entropy"
)

// ParseMethod parses a method name.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case MinMax, Percentile, Entropy:
		return m, nil
	}
	return "", fmt.Errorf("quant: unknown calibration method %q (want minmax, percentile or entropy)", s)
}

// PercentileKept is the fraction of values the Percentile method keeps
// inside the range (99.99%).
const PercentileKept = 0.9999

// histHalf is the number of histogram bins on each side of zero.
const histHalf = 2048

// observer accumulates what Calibrate sees of one value: its extremes and,
// in a second pass, a histogram over [−amax, amax] with histHalf bins on
// each side, so |x| folds exactly onto histHalf bins.
type observer struct {
	min, max float32
	seen     bool
	amax     float32
	hist     []float64
}

func (o *observer) observeMinMax(x []float32) {
	for _, v := range x {
		if v != v { // NaN
			continue
		}
		if !o.seen {
			o.min, o.max, o.seen = v, v, true
		}
		o.min, o.max = min(o.min, v), max(o.max, v)
	}
}

// startHistogram sizes the histogram from the first pass's extremes.
func (o *observer) startHistogram() {
	o.amax = max(float32(math.Abs(float64(o.min))), float32(math.Abs(float64(o.max))))
	o.hist = make([]float64, 2*histHalf)
}

func (o *observer) observeHistogram(x []float32) {
	if o.amax == 0 {
		return
	}
	inv := float32(histHalf) / o.amax
	last := len(o.hist) - 1
	for _, v := range x {
		if v != v || v == 0 {
			// Exact zeros (ReLU's output, padding) are represented exactly
			// by every range, so they must not sway the choice: left in,
			// the spike at 0 drives the entropy method to clip hard.
			continue
		}
		i := int(math.Floor(float64(v*inv))) + histHalf
		o.hist[min(max(i, 0), last)]++
	}
}

// binWidth is the width of one histogram bin.
func (o *observer) binWidth() float32 { return o.amax / histHalf }

// absHist folds the histogram onto |x|: bin j covers [j, j+1)·binWidth.
func (o *observer) absHist() []float64 {
	h := make([]float64, histHalf)
	for j := range h {
		h[j] = o.hist[histHalf+j] + o.hist[histHalf-1-j]
	}
	return h
}

// Range is an activation's calibrated range: [Min, Max] for asymmetric
// (uint8) quantization and [−Abs, Abs] for symmetric (int8).
type Range struct {
	Min, Max float32
	Abs      float32
}

// finish computes the range by method.
func (o *observer) finish(m Method) Range {
	r := Range{Min: o.min, Max: o.max, Abs: o.amax}
	if m == MinMax || o.hist == nil || o.amax == 0 || sum(o.hist) == 0 {
		r.Abs = max(-o.min, o.max)
		return r
	}
	w := o.binWidth()
	switch m {
	case Percentile:
		total := sum(o.hist)
		lo, hi := quantileBin(o.hist, (1-PercentileKept)*total), quantileBin(o.hist, PercentileKept*total)
		r.Min = max(o.min, float32(lo-histHalf)*w)
		r.Max = min(o.max, float32(hi+1-histHalf)*w)
		abs := o.absHist()
		r.Abs = min(o.amax, float32(quantileBin(abs, PercentileKept*sum(abs))+1)*w)
	case Entropy:
		abs := o.absHist()
		t := entropyThreshold(abs, 128) * w
		r.Abs = t
		if o.min >= 0 {
			// Non-negative data (after ReLU): all 256 uint8 levels lie in
			// [0, t'], so search with 256 levels.
			r.Min, r.Max = 0, min(o.max, entropyThreshold(abs, 256)*w)
		} else {
			r.Min, r.Max = max(o.min, -t), min(o.max, t)
		}
	}
	return r
}

func sum(h []float64) float64 {
	s := 0.0
	for _, v := range h {
		s += v
	}
	return s
}

// quantileBin returns the first bin at which the cumulative count reaches
// target.
func quantileBin(h []float64, target float64) int {
	c := 0.0
	for i, v := range h {
		c += v
		if c >= target && v > 0 {
			return i
		}
	}
	return len(h) - 1
}

// entropyThreshold returns, in bins, the clipping threshold of |x| whose
// quantization to levels levels loses the least information (minimum
// KL(P‖Q)), per Migacz (GTC 2017): for each candidate i ≥ levels, P is the
// first i bins with the tail's count added to bin i−1, Q is P's first i bins
// merged into levels groups and spread back uniformly over each group's
// non-empty bins. The threshold is the candidate's upper edge.
func entropyThreshold(h []float64, levels int) float32 {
	n := len(h)
	for n > levels && h[n-1] == 0 {
		n-- // empty tail: thresholds beyond the data are all equivalent
	}
	if n <= levels {
		return float32(n)
	}
	tail := make([]float64, n+1) // tail[i] = Σ h[i:n]
	for i := n - 1; i >= 0; i-- {
		tail[i] = tail[i+1] + h[i]
	}
	best, bestKL := n, math.Inf(1)
	p := make([]float64, n)
	q := make([]float64, n)
	for i := levels; i <= n; i++ {
		copy(p, h[:i])
		p[i-1] += tail[i]
		// Q: merge h[:i] (without the outliers, as TensorRT does) into
		// levels groups, then expand over each group's non-empty bins.
		for g := 0; g < levels; g++ {
			lo, hi := g*i/levels, (g+1)*i/levels
			s, nz := 0.0, 0
			for j := lo; j < hi; j++ {
				s += h[j]
				if h[j] > 0 {
					nz++
				}
			}
			for j := lo; j < hi; j++ {
				q[j] = 0
				if h[j] > 0 {
					q[j] = s / float64(nz)
				}
			}
		}
		if kl := klDivergence(p[:i], q[:i]); kl < bestKL {
			best, bestKL = i, kl
		}
	}
	return float32(best)
}

// klDivergence is KL(P‖Q) of two unnormalized histograms; bins where P is
// empty add nothing and bins where only Q is empty are smoothed with a tiny
// mass, as the reference implementations do.
func klDivergence(p, q []float64) float64 {
	sp, sq := sum(p), sum(q)
	if sp == 0 || sq == 0 {
		return math.Inf(1)
	}
	kl := 0.0
	for j, pv := range p {
		if pv == 0 {
			continue
		}
		pn := pv / sp
		qn := q[j] / sq
		if qn == 0 {
			qn = 1e-12
		}
		kl += pn * math.Log(pn/qn)
	}
	return kl
}
