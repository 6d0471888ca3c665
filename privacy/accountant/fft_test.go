package accountant

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// TestFFTMatchesDFT compares with the O(n²) definition and checks the round trip.
func TestFFTMatchesDFT(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 8, 64, 256} {
		x := make([]complex128, n)
		for i := range x {
			x[i] = complex(r.NormFloat64(), r.NormFloat64())
		}
		got := append([]complex128(nil), x...)
		fft(got, false)
		for k := 0; k < n; k++ {
			var want complex128
			for j := 0; j < n; j++ {
				want += x[j] * cmplx.Exp(complex(0, -2*math.Pi*float64(j*k)/float64(n)))
			}
			if cmplx.Abs(got[k]-want) > 1e-9*float64(n) {
				t.Fatalf("n=%d k=%d: %v, want %v", n, k, got[k], want)
			}
		}
		fft(got, true)
		for i := range x {
			if cmplx.Abs(got[i]-x[i]) > 1e-12 {
				t.Fatalf("n=%d: round trip %v, want %v", n, got[i], x[i])
			}
		}
	}
	if z := powComplex(complex(0.6, 0.8), 7); cmplx.Abs(z-cmplx.Pow(complex(0.6, 0.8), 7)) > 1e-12 {
		t.Fatalf("powComplex = %v", z)
	}
}
