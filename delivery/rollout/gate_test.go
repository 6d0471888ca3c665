package rollout

import (
	"math"
	"testing"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/privacy/aggregate"
)

func prop(n, rate float64) experiment.Summary {
	return experiment.Summary{N: n, Sum: math.Round(n * rate)}
}

func TestEvaluateVerdicts(t *testing.T) {
	errs := Gate{Metric: "inference_errors", Kind: experiment.MetricProportion, MaxRegression: 0.0025}
	acc := Gate{Metric: "acc1", Kind: experiment.MetricProportion, Direction: HigherIsBetter, MaxRegression: 0.005}
	for _, tc := range []struct {
		name string
		g    *Gate
		arms Arms
		want Verdict
	}{
		{"errors doubled", &errs, Arms{prop(1e6, 0.01), prop(1e5, 0.02)}, Fail},
		{"errors unchanged", &errs, Arms{prop(1e6, 0.01), prop(1e5, 0.01)}, Pass},
		{"errors unchanged, few events", &errs, Arms{prop(1e4, 0.01), prop(1e3, 0.01)}, Inconclusive},
		{"accuracy dropped 2 points", &acc, Arms{prop(1e6, 0.70), prop(1e5, 0.68)}, Fail},
		{"accuracy rose 2 points", &acc, Arms{prop(1e6, 0.70), prop(1e5, 0.72)}, Pass},
		{"accuracy at the tolerance", &acc, Arms{prop(1e6, 0.70), prop(1e5, 0.695)}, Inconclusive},
		{"one unit", &acc, Arms{prop(1e6, 0.70), prop(1, 1)}, Inconclusive},
		{"errors doubled, below min units", &Gate{Metric: "e", Kind: experiment.MetricProportion, MinUnits: 2e5}, Arms{prop(1e6, 0.01), prop(1e5, 0.02)}, Inconclusive},
		{"no candidate data", &errs, Arms{prop(1e6, 0.01), experiment.Summary{}}, Inconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Evaluate(tc.g, tc.arms)
			if err != nil {
				t.Fatal(err)
			}
			if got.Verdict != tc.want {
				t.Errorf("verdict %v, want %v (regression %.5f in [%.5f, %.5f], tolerance %g, %s)",
					got.Verdict, tc.want, got.Regression, got.Low, got.High, got.MaxRegression, got.Reason)
			}
		})
	}
}

func TestEvaluateDirection(t *testing.T) {
	g := Gate{Metric: "acc1", Kind: experiment.MetricProportion, Direction: HigherIsBetter}
	got, err := Evaluate(&g, Arms{prop(1e6, 0.70), prop(1e5, 0.68)})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Regression-0.02) > 1e-9 || !(got.Low < got.Regression && got.Regression < got.High) {
		t.Errorf("regression %g in [%g, %g], want 0.02 inside", got.Regression, got.Low, got.High)
	}
}

func TestEvaluateRejectsMalformed(t *testing.T) {
	g := Gate{Metric: "errors", Kind: experiment.MetricProportion}
	if _, err := Evaluate(&g, Arms{prop(100, 0.1), experiment.Summary{N: 10, Sum: 20}}); err == nil {
		t.Error("20 successes of 10 accepted")
	}
}

// TestNoiseVarianceHolds: the same data that pass exactly are
// inconclusive once heavy DP noise is folded in.
func TestNoiseVarianceHolds(t *testing.T) {
	g := Gate{Metric: "inference_errors", Kind: experiment.MetricProportion, MaxRegression: 0.0025}
	exact := Arms{prop(1e6, 0.01), prop(1e5, 0.01)}
	if r, _ := Evaluate(&g, exact); r.Verdict != Pass {
		t.Fatalf("exact data: %v, want pass", r.Verdict)
	}
	// A count released with Laplace noise of scale 300 (variance 2·300²).
	noisy := exact
	noisy.Candidate = FromEstimate(experiment.MetricProportion, 1e5,
		aggregate.Estimate{Value: exact.Candidate.Sum, NoiseVariance: 2 * 300 * 300}, 0)
	if noisy.Candidate.NoiseVariance != 2*300*300/1e10 {
		t.Fatalf("noise variance of the mean %g", noisy.Candidate.NoiseVariance)
	}
	if r, _ := Evaluate(&g, noisy); r.Verdict != Inconclusive {
		t.Errorf("noisy data: %v, want inconclusive (interval [%g, %g])", r.Verdict, r.Low, r.High)
	}
}

func TestFromEstimateClamps(t *testing.T) {
	s := FromEstimate(experiment.MetricProportion, 100, aggregate.Estimate{Value: -3, NoiseVariance: 4}, 7)
	if s.Sum != 0 || s.SumSquares != 0 || s.NoiseVariance != 4e-4 {
		t.Errorf("got %+v", s)
	}
	s = FromEstimate(experiment.MetricProportion, 100, aggregate.Estimate{Value: 104}, 0)
	if s.Sum != 100 {
		t.Errorf("sum %g, want clamped to 100", s.Sum)
	}
}
