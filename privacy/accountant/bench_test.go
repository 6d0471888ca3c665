package accountant

import "testing"

// BenchmarkRDPEpsilonDefaultOrders is one ε query for the subsampled
// Gaussian over the 156 default orders; the step count only scales the
// curve, so the cost is independent of it. Target: < 1 ms.
func BenchmarkRDPEpsilonDefaultOrders(b *testing.B) {
	for _, c := range []struct {
		name     string
		q, sigma float64
		steps    int
	}{{"q0.01_s1.1_T1e4", 0.01, 1.1, 10000}, {"q0.005_s0.9_T2000", 0.005, 0.9, 2000}, {"q0.04_s1.5_T2250", 0.04, 1.5, 2250}, {"q0.5_s0.7_T1e6", 0.5, 0.7, 1_000_000}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := SampledGaussianEpsilon(c.q, c.sigma, c.steps, 1e-5, nil, Improved); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPLDCompose2000 builds the PLD of the subsampled Gaussian
// (q = 0.005, σ = 0.9) at interval 1e-4, composes 2,000 steps by FFT and reads
// ε at δ = 1e-5. Target: < 100 ms.
func BenchmarkPLDCompose2000(b *testing.B) {
	for b.Loop() {
		if _, err := PLDSampledGaussianEpsilon(0.005, 0.9, 2000, 1e-5, 1e-4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCalibrateRDP(b *testing.B) {
	d := DPSGD{Q: 0.01, Steps: 10000, Delta: 1e-5}
	for b.Loop() {
		if _, err := d.NoiseMultiplier(2); err != nil {
			b.Fatal(err)
		}
	}
}
