package eval

import (
	"math"
	"strconv"
)

// DefaultECEBins is the number of equal-width confidence bins ECE uses
// unless told otherwise (Guo, Pleiss, Sun, Weinberger, "On Calibration of
// Modern Neural Networks", ICML 2017, use 15).
const DefaultECEBins = 15

// ECE is the expected calibration error with equal-width bins (Naeini,
// Cooper, Hauskrecht, AAAI 2015; Guo et al., ICML 2017, eq. 3): examples
// are grouped by confidence c = max_j p_j into Bins intervals
// (0, 1/M], (1/M, 2/M], …, ((M−1)/M, 1] (a confidence of exactly 0 joins the
// first), and
//
//	ECE = Σ_b (n_b / n) · |acc_b − conf_b|
//
// where acc_b is the fraction of the bin's examples whose top-ranked index
// is the label and conf_b their mean confidence. It is top-label ECE:
// only the predicted class's probability is calibrated. Per example it
// keeps (confidence, correct).
type ECE struct{ Bins int }

// Name is "ece" with the default bins, else "ece/M".
func (e ECE) Name() string {
	if e.Bins == DefaultECEBins || e.Bins == 0 {
		return "ece"
	}
	return "ece/" + strconv.Itoa(e.Bins)
}

// HigherIsBetter is false.
func (ECE) HigherIsBetter() bool { return false }

// PerExample returns (confidence, correct) per example.
func (e ECE) PerExample(o *Outputs) (Values, error) {
	if err := needRank(o, "ece"); err != nil {
		return Values{}, err
	}
	x := make([]float64, 2*len(o.conf))
	for i := range o.conf {
		x[2*i], x[2*i+1] = o.conf[i], o.correct[i]
	}
	return Values{Arity: 2, X: x}, nil
}

// Aggregate computes ECE over idx.
func (e ECE) Aggregate(v Values, idx []int, scratch []float64) float64 {
	m := e.bins()
	// scratch: count, sum of confidence, sum of correct per bin
	var acc []float64
	if len(scratch) >= 3*m {
		acc = scratch[:3*m]
		clear(acc)
	} else {
		acc = make([]float64, 3*m)
	}
	for _, i := range idx {
		c, ok := v.X[2*i], v.X[2*i+1]
		b := binOf(c, m)
		acc[3*b]++
		acc[3*b+1] += c
		acc[3*b+2] += ok
	}
	if len(idx) == 0 {
		return math.NaN()
	}
	s := 0.0
	for b := range m {
		if n := acc[3*b]; n > 0 {
			s += n * math.Abs(acc[3*b+2]/n-acc[3*b+1]/n)
		}
	}
	return s / float64(len(idx))
}

func (e ECE) bins() int {
	if e.Bins <= 0 {
		return DefaultECEBins
	}
	return e.Bins
}

// binOf is the bin of confidence c among m bins (0, 1/m], …, ((m−1)/m, 1].
func binOf(c float64, m int) int {
	b := int(math.Ceil(c*float64(m))) - 1
	return min(max(b, 0), m-1)
}

// Bin is one bar of a reliability diagram.
type Bin struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Count      int     `json:"count"`
	Confidence Num     `json:"confidence"` // mean confidence; null when empty
	Accuracy   Num     `json:"accuracy"`   // fraction correct; null when empty
}

// Reliability returns the reliability diagram (DeGroot & Fienberg 1983;
// Niculescu-Mizil & Caruana, ICML 2005) of the examples idx in m
// equal-width bins, the same bins ECE uses.
func Reliability(o *Outputs, idx []int, m int) ([]Bin, error) {
	if err := needRank(o, "ece"); err != nil {
		return nil, err
	}
	return reliability(o.conf, o.correct, idx, m), nil
}

// reliability is Reliability from the examples' confidence and
// correctness (what ECE keeps per example).
func reliability(confidence, correct []float64, idx []int, m int) []Bin {
	bins := make([]Bin, m)
	conf := make([]float64, m)
	corr := make([]float64, m)
	for b := range bins {
		bins[b].Lo, bins[b].Hi = float64(b)/float64(m), float64(b+1)/float64(m)
	}
	for _, i := range idx {
		b := binOf(confidence[i], m)
		bins[b].Count++
		conf[b] += confidence[i]
		corr[b] += correct[i]
	}
	for b := range bins {
		bins[b].Confidence, bins[b].Accuracy = Num(math.NaN()), Num(math.NaN())
		if n := float64(bins[b].Count); n > 0 {
			bins[b].Confidence, bins[b].Accuracy = Num(conf[b]/n), Num(corr[b]/n)
		}
	}
	return bins
}
