package fl

import (
	"math"
	"testing"

	"github.com/sextant-ml/sextant/secagg"
)

// TestServerOptimizerRules checks each update rule on two rounds of a
// one-coordinate update (Δ = 1 then −0.5) against values worked out by hand
// from Reddi et al. 2021, Algorithm 2 (computed in float64 with Python).
func TestServerOptimizerRules(t *testing.T) {
	for _, c := range []struct {
		opt  ServerOptimizer
		want float64
	}{
		{ServerOptimizer{Kind: FedAvg}, 0.5},
		{ServerOptimizer{Kind: FedAvgM, LR: 0.5, Beta1: 0.9}, 0.7},
		{ServerOptimizer{Kind: FedAdam, LR: 0.1}, 0.1346050053529748},
		{ServerOptimizer{Kind: FedYogi, LR: 0.1}, 0.1344635185698879},
	} {
		x := []float32{0}
		var st OptimizerState
		for _, d := range []float64{1, -0.5} {
			if err := c.opt.Apply(x, []float64{d}, &st); err != nil {
				t.Fatal(err)
			}
		}
		if math.Abs(float64(x[0])-c.want) > 1e-6 {
			t.Errorf("%s: x = %v, want %v", c.opt.Kind, x[0], c.want)
		}
	}
	if err := (ServerOptimizer{Kind: "sgd"}).Validate(); err == nil {
		t.Error("an unknown optimizer was accepted")
	}
	if err := (ServerOptimizer{Kind: FedAdam, Beta2: 1}).Validate(); err == nil {
		t.Error("β2 = 1 was accepted")
	}
}

func TestSecAggParamsNeverWrap(t *testing.T) {
	for _, n := range []int{10, 26, 500, 1000, 1001, 5000} {
		p, err := secaggParams(1, 1000, n, 2, 10, 0, false)
		if err != nil {
			t.Fatalf("n = %d: %v", n, err)
		}
		if p.Encoding.Bound(n, 1000).MayWrap || p.Encoding.Clip != 2 {
			t.Errorf("n = %d: encoding %+v may wrap", n, p.Encoding)
		}
		if (n > 1000) != (p.Degree > 0) {
			t.Errorf("n = %d: degree %d (SecAgg+ beyond 1,000 clients only)", n, p.Degree)
		}
		// The scale is the finest power of two that cannot wrap.
		if q := (secagg.Encoding{Clip: 2, Scale: 2 * p.Encoding.Scale}); p.Encoding.Scale < 1<<24 && !q.Bound(n, 1000).MayWrap {
			t.Errorf("n = %d: scale %v is not the finest", n, p.Encoding.Scale)
		}
	}
}
