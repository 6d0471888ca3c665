package mobility

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestStayDurations checks the waiting-time law: the survival function of
// the drawn stays matches that of P(Δt) ∝ Δt^(−1−β)·e^(−Δt/τ) from
// MinStay up, and nothing is shorter than MinStay.
func TestStayDurations(t *testing.T) {
	p := DefaultParams()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200000
	var draws []float64
	for range n {
		d := stayHours(&p, rng)
		if d < p.MinStay {
			t.Fatalf("stay %g h shorter than the minimum %g h", d, p.MinStay)
		}
		draws = append(draws, d)
	}
	over := func(x float64) float64 {
		c := 0
		for _, d := range draws {
			if d > x {
				c++
			}
		}
		return float64(c) / n
	}
	// The law's survival function, integrated numerically on a log grid.
	survival := func(x float64) float64 {
		var sum float64
		for u := math.Log(x); u < math.Log(40*p.Tau); u += 1e-3 {
			y := math.Exp(u + 5e-4)
			sum += math.Pow(y, -1-p.Beta) * math.Exp(-y/p.Tau) * y * 1e-3
		}
		return sum
	}
	z := survival(p.MinStay)
	for _, x := range []float64{2, 4, 8, 16, 32} {
		want, got := survival(x)/z, over(x)
		if math.Abs(got-want) > 0.03*want+0.002 {
			t.Errorf("P(stay > %g h) = %.4f, the law gives %.4f", x, got, want)
		}
	}
}
