package eval

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// TemperatureFit is the result of FitTemperature.
type TemperatureFit struct {
	// Temperature T divides the logits before the softmax.
	Temperature float64 `json:"temperature"`
	// NLLBefore and NLLAfter are the mean negative log-likelihoods of the
	// labels at T = 1 and at the fitted T.
	NLLBefore float64 `json:"nll_before"`
	NLLAfter  float64 `json:"nll_after"`
}

// Temperature bounds of the search: far wider than any network needs
// (Guo et al. report fitted temperatures between 1 and 3).
const (
	minTemperature = 0.01
	maxTemperature = 100
)

// FitTemperature fits temperature scaling (Guo, Pleiss, Sun, Weinberger,
// "On Calibration of Modern Neural Networks", ICML 2017, §4.2): the one
// scalar T > 0 minimizing the mean negative log-likelihood of the labels
// under softmax(z / T) on held-out logits z. A single logit per example is
// a binary problem with logits (0, z), as Outputs reads it. The NLL is
// convex in 1/T, so it is unimodal in ln T and a golden-section search on
// ln T ∈ [ln 0.01, ln 100] finds the minimum (to a relative 1e-6).
func FitTemperature(s Scores, labels []float64) (TemperatureFit, error) {
	n := s.Len()
	if n == 0 || n != len(labels) || s.Width*n != len(s.Values) {
		return TemperatureFit{}, fmt.Errorf("eval: %d logits of width %d for %d labels", len(s.Values), s.Width, len(labels))
	}
	k := max(s.Width, 2)
	for i, y := range labels {
		if yi := int(y); float64(yi) != y || yi < 0 || yi >= k {
			return TemperatureFit{}, fmt.Errorf("eval: example %d: label %v is not an index in [0, %d)", i, y, k)
		}
	}
	for i, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return TemperatureFit{}, fmt.Errorf("eval: example %d: non-finite logit", i/s.Width)
		}
	}
	nll := func(t float64) float64 {
		row := make([]float64, k)
		sum := 0.0
		for i := range n {
			if s.Width == 1 {
				row[0], row[1] = 0, s.Values[i]
			} else {
				copy(row, s.Row(i))
			}
			hi := math.Inf(-1)
			for _, z := range row {
				hi = math.Max(hi, z/t)
			}
			lse := 0.0
			for _, z := range row {
				lse += math.Exp(z/t - hi)
			}
			sum += hi + math.Log(lse) - row[int(labels[i])]/t
		}
		return sum / float64(n)
	}
	lo, hi := math.Log(minTemperature), math.Log(maxTemperature)
	g := (math.Sqrt(5) - 1) / 2
	a, b := hi-g*(hi-lo), lo+g*(hi-lo)
	fa, fb := nll(math.Exp(a)), nll(math.Exp(b))
	for hi-lo > 1e-6 {
		if fa <= fb {
			hi, b, fb = b, a, fa
			a = hi - g*(hi-lo)
			fa = nll(math.Exp(a))
		} else {
			lo, a, fa = a, b, fb
			b = lo + g*(hi-lo)
			fb = nll(math.Exp(b))
		}
	}
	t := math.Exp((lo + hi) / 2)
	return TemperatureFit{Temperature: t, NLLBefore: nll(1), NLLAfter: nll(t)}, nil
}

// ThresholdForRate returns the cascade threshold τ for a target escalation
// rate: the cascade escalates an answer whose confidence is below τ, and
// τ is the smallest confidence such that at most rate of conf lies below
// it (ties at τ stay on device, so the realized rate is at most rate).
// rate 0 gives the lowest confidence (nothing escalates); rate 1 gives a
// threshold above every confidence, capped at 1.
func ThresholdForRate(conf []float64, rate float64) (float64, error) {
	if len(conf) == 0 {
		return 0, errors.New("eval: no confidences")
	}
	if !(rate >= 0 && rate <= 1) {
		return 0, fmt.Errorf("eval: escalation rate %v is outside [0, 1]", rate)
	}
	c := append([]float64(nil), conf...)
	sort.Float64s(c)
	k := int(math.Floor(rate * float64(len(c))))
	if k >= len(c) {
		return 1, nil
	}
	return c[k], nil
}

// RiskCoverage is the risk–coverage curve of selective prediction (El-Yaniv
// & Wiener, JMLR 2010; Geifman & El-Yaniv, NeurIPS 2017): answering only
// the examples whose confidence is at least a threshold, the fraction
// answered (coverage) against the error rate among them (risk), as the
// threshold sweeps from the highest confidence down. For a cascade, 1 −
// coverage is the escalation rate and risk the device's error on what it
// keeps.
type RiskCoverage struct {
	// Points run from low to full coverage.
	Points []RiskCoveragePoint `json:"points"`
	// AURC is the area under the curve (the mean of the risks at every
	// coverage k/n); lower is better.
	AURC Num `json:"aurc"`
}

// RiskCoveragePoint is one threshold of the sweep.
type RiskCoveragePoint struct {
	Threshold Num `json:"threshold"`
	Coverage  Num `json:"coverage"`
	Risk      Num `json:"risk"`
}

// DefaultRiskCoveragePoints is how many points of the curve a report
// keeps (the AURC uses every example).
const DefaultRiskCoveragePoints = 50

// NewRiskCoverage computes the curve over the examples idx from per-example
// confidence and correctness (1 or 0), keeping at most points points, at
// evenly spaced coverages (and always the full coverage). Examples with
// equal confidence are admitted together, since no threshold separates
// them.
func NewRiskCoverage(conf, correct []float64, idx []int, points int) *RiskCoverage {
	if points <= 0 {
		points = DefaultRiskCoveragePoints
	}
	ord := append([]int(nil), idx...)
	sort.SliceStable(ord, func(a, b int) bool { return conf[ord[a]] > conf[ord[b]] })
	n := len(ord)
	rc := &RiskCoverage{AURC: Num(math.NaN())}
	if n == 0 {
		return rc
	}
	errs, area := 0.0, 0.0
	next := 1
	for k := 0; k < n; {
		// admit every example tied at this confidence
		c := conf[ord[k]]
		j := k
		for j < n && conf[ord[j]] == c {
			errs += 1 - correct[ord[j]]
			j++
		}
		risk := errs / float64(j)
		area += risk * float64(j-k)
		k = j
		if cov := float64(k) / float64(n); cov*float64(points) >= float64(next) || k == n {
			rc.Points = append(rc.Points, RiskCoveragePoint{Threshold: Num(c), Coverage: Num(cov), Risk: Num(risk)})
			next = int(math.Floor(cov*float64(points))) + 1
		}
	}
	rc.AURC = Num(area / float64(n))
	return rc
}

// riskCoveragePlot draws the curve: coverage on x, risk on y.
func riskCoveragePlot(rc *RiskCoverage) string {
	const size, pad = 320.0, 40.0
	top := 0.0
	for _, p := range rc.Points {
		if r := float64(p.Risk); !math.IsNaN(r) {
			top = math.Max(top, r)
		}
	}
	_, top, step := niceRange(0, math.Max(top, 1e-3))
	ax := axis{0, 1, pad, size - 10}
	ay := axis{0, top, size - pad, 10}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="risk-coverage" width="%s" height="%s" viewBox="0 0 %s %s">`, f1(size), f1(size), f1(size), f1(size))
	b.WriteString(`<title>Risk–coverage curve</title>`)
	xTicks(&b, ax, 0.25, ay.at(0))
	for t := 0.0; t <= top+step/2; t += step {
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="10" text-anchor="end">%s</text>`, f1(pad-6), f1(ay.at(t)+3), fmtTick(t))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="middle">coverage</text>`, f1(size/2), f1(size-8))
	fmt.Fprintf(&b, `<text x="12" y="%s" font-size="11" transform="rotate(-90 12 %s)" text-anchor="middle">risk (error rate)</text>`, f1(size/2), f1(size/2))
	var pts []string
	for _, p := range rc.Points {
		if math.IsNaN(float64(p.Risk)) {
			continue
		}
		pts = append(pts, f1(ax.at(float64(p.Coverage)))+","+f1(ay.at(float64(p.Risk))))
	}
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, strings.Join(pts, " "), candColor)
	}
	b.WriteString(`</svg>`)
	return b.String()
}
