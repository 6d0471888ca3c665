package fl

import (
	"math"
	"testing"

	"github.com/sextant-ml/sextant/secagg"
)

func TestDistributedNoiseCalibration(t *testing.T) {
	p := secagg.Params{Dim: 1000, Encoding: secagg.Encoding{Clip: 1, Scale: 1 << 16}}
	sigma, zEff, err := distributedNoise(p, 1, 1.2, 50)
	if err != nil {
		t.Fatal(err)
	}
	delta := 1<<16 + math.Sqrt(1000)/2
	// m devices' noise has σ_sum = z·Δ exactly; τ underflows, so z_eff = z.
	if got := sigma * math.Sqrt(50); math.Abs(got-1.2*delta) > 1e-6*delta || math.Abs(zEff-1.2) > 1e-12 {
		t.Errorf("σ·√m = %v (want z·Δ = %v), z_eff %v", got, 1.2*delta, zEff)
	}
	// A per-device σ near 1 unit makes τ·d large: refused rather than
	// accounted as if it were a Gaussian.
	small := secagg.Params{Dim: 1000, Encoding: secagg.Encoding{Clip: 1, Scale: 1}}
	if _, _, err := distributedNoise(small, 1, 0.2, 400); err == nil {
		t.Error("σ below one unit was accepted")
	}
	if _, _, err := distributedNoise(small, 1, 0.7, 100); err == nil {
		t.Error("a σ where the sum is far from a discrete Gaussian (τ·d large) was accepted")
	}
	// secaggParams leaves room for the noise: no wrap at 8 σ of n devices.
	q, err := secaggParams(1, 1000, 200, 1, 50, 1.2, false)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := distributedNoise(q, 1, 1.2, 50)
	if err != nil {
		t.Fatal(err)
	}
	if 200*q.Encoding.Scale+8*s*math.Sqrt(200) >= math.MaxInt32 {
		t.Errorf("scale %v leaves no room for noise σ %v", q.Encoding.Scale, s)
	}
}
