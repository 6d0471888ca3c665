package rollout

import (
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/privacy/aggregate"
)

// Verdict is a gate's decision at one evaluation.
type Verdict int

const (
	// Inconclusive holds the stage: not enough evidence either way.
	Inconclusive Verdict = iota
	// Pass: the regression is significantly within the tolerance.
	Pass
	// Fail: the regression is significantly beyond the tolerance.
	Fail
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	}
	return "inconclusive"
}

// MarshalText makes a Verdict its name in JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Arms are one metric's two arms: the current version's devices and the
// candidate's.
type Arms struct {
	Current   experiment.Summary `json:"current"`
	Candidate experiment.Summary `json:"candidate"`
}

// GateResult is one gate's evaluation, kept as evidence.
type GateResult struct {
	Metric  string  `json:"metric"`
	Verdict Verdict `json:"verdict"`
	// Regression is the estimated regression and [Low, High] its
	// always-valid interval (see Gate); MaxRegression the tolerance.
	Regression    float64 `json:"regression"`
	Low           float64 `json:"low"`
	High          float64 `json:"high"`
	MaxRegression float64 `json:"max_regression"`
	CurrentN      float64 `json:"current_n"`
	CandidateN    float64 `json:"candidate_n"`
	// Reason says why no interval could be formed (too few units, no
	// variance, no data); Regression, Low and High are then zero.
	Reason string `json:"reason,omitempty"`
}

// Evaluate judges arms by gate g (see Gate for the rule). Errors from the
// analysis that mean "not enough data yet" give Inconclusive, never Pass;
// malformed input is returned as an error.
func Evaluate(g *Gate, a Arms) (GateResult, error) {
	res := GateResult{Metric: g.Metric, MaxRegression: g.MaxRegression,
		CurrentN: a.Current.N, CandidateN: a.Candidate.N}
	if a.Candidate.N < g.MinUnits {
		res.Reason = fmt.Sprintf("candidate has %g of the %g units the gate needs", a.Candidate.N, g.MinUnits)
		return res, nil
	}
	o := experiment.Options{
		Relative:   g.Relative,
		Alpha:      g.alpha(),
		Sequential: &experiment.Sequential{Tuning: g.Tuning},
	}
	r, err := experiment.Analyze(g.Kind, a.Current, a.Candidate, o)
	switch {
	case errors.Is(err, experiment.ErrTooFewUnits), errors.Is(err, experiment.ErrZeroVariance),
		errors.Is(err, experiment.ErrZeroBaseline):
		res.Reason = err.Error()
		return res, nil
	case err != nil:
		return res, err
	}
	// Effect is candidate − current; orient it so positive is worse.
	res.Regression, res.Low, res.High = r.Effect, r.CILow, r.CIHigh
	if g.Direction == HigherIsBetter {
		res.Regression, res.Low, res.High = -r.Effect, -r.CIHigh, -r.CILow
	}
	switch {
	case res.Low > g.MaxRegression:
		res.Verdict = Fail
	case res.High <= g.MaxRegression:
		res.Verdict = Pass
	}
	return res, nil
}

// FromEstimate turns a central-DP release into an arm of a metric: n
// units (or events, for a proportion) and the privatized sum of their
// values. The released sum's noise variance becomes the variance of the
// mean, NoiseVariance = Var(noise)/n². For a proportion the sum is clamped
// to [0, n] (noise can push a count outside it); sumSquares is ignored
// then. For a mean, pass the privatized sum of squares (or 0 when the
// variance comes from elsewhere).
func FromEstimate(kind experiment.Metric, n float64, sum aggregate.Estimate, sumSquares float64) experiment.Summary {
	s := experiment.Summary{N: n, Sum: sum.Value, SumSquares: sumSquares}
	if n > 0 {
		s.NoiseVariance = sum.NoiseVariance / (n * n)
	}
	if kind == experiment.MetricProportion {
		s.Sum = math.Min(math.Max(s.Sum, 0), n)
		s.SumSquares = 0
	}
	return s
}

// UnmarshalText parses a Verdict's name, so a GateResult decodes from JSON.
func (v *Verdict) UnmarshalText(b []byte) error {
	for _, c := range []Verdict{Inconclusive, Pass, Fail} {
		if c.String() == string(b) {
			*v = c
			return nil
		}
	}
	return fmt.Errorf("rollout: unknown verdict %q", b)
}
