package gemm8

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDequantize compares every set with a float64 evaluation of the
// formula (to float32 rounding) on lengths that cover the vector tails.
func TestDequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{1, 7, 8, 15, 16, 17, 31, 64, 100} {
		acc, sums := make([]int32, n), make([]int32, n)
		bs, bias := make([]float32, n), make([]float32, n)
		for j := range acc {
			acc[j] = int32(r.IntN(1<<22) - 1<<21)
			sums[j] = int32(r.IntN(1<<14) - 1<<13)
			bs[j] = float32(r.Float64() * 0.01)
			bias[j] = float32(r.NormFloat64())
		}
		for _, ks := range Available() {
			for _, withBias := range []bool{false, true} {
				for _, relu := range []bool{false, true} {
					var bb []float32
					if withBias {
						bb = bias
					}
					y := make([]float32, n+1)
					y[n] = 42
					ks.Dequantize(y[:n], acc, sums, 17, 0.03, bs, bb, relu)
					if y[n] != 42 {
						t.Fatalf("%s: wrote past n", ks.Name())
					}
					for j := 0; j < n; j++ {
						want := float64(acc[j]-17*sums[j]) * 0.03 * float64(bs[j])
						if withBias {
							want += float64(bias[j])
						}
						if relu {
							want = math.Max(want, 0)
						}
						if d := math.Abs(float64(y[j]) - want); d > 1e-6*math.Abs(want)+1e-6 {
							t.Fatalf("%s n=%d bias=%v relu=%v: y[%d] = %g, want %g", ks.Name(), n, withBias, relu, j, y[j], want)
						}
					}
				}
			}
		}
	}
}

// TestDequantizeInPlace converts an int32 row into float32 in its own memory.
func TestDequantizeInPlace(t *testing.T) {
	for _, ks := range Available() {
		n := 37
		acc, sums, bs := make([]int32, n), make([]int32, n), make([]float32, n)
		for j := range acc {
			acc[j], bs[j] = int32(j*100-1000), 1
		}
		y := unsafeFloats(acc)
		ks.Dequantize(y, acc, sums, 0, 0.5, bs, nil, false)
		for j := range y {
			if want := float32(j*100-1000) * 0.5; y[j] != want {
				t.Fatalf("%s: y[%d] = %g, want %g", ks.Name(), j, y[j], want)
			}
		}
	}
}

// TestQuantize compares every set with the pure-Go one exactly (both
// compute x·inv + shift + ½ in float32 and truncate after clamping), and the
// pure-Go one with float64 rounding away from values near a boundary.
func TestQuantize(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 3, 15, 16, 17, 63, 64, 65, 200} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 3)
		}
		x[0] = 1e30 // saturates high
		if n > 1 {
			x[1] = -1e30 // saturates low
		}
		for _, signed := range []bool{false, true} {
			scale, zero := float32(0.037), int32(100)
			if signed {
				zero = -3
			}
			want := make([]byte, n)
			Kernels{generic}.Quantize(want, x, scale, zero, signed)
			for i, v := range x {
				f := float64(v)/float64(scale) + float64(zero) + 0.5
				lo, hi := 0.0, 255.0
				if signed {
					lo, hi = -128, 127
				}
				q := math.Min(math.Max(math.Floor(f), lo), hi)
				got := float64(int8(want[i]))
				if !signed {
					got = float64(want[i])
				}
				if got != q && math.Abs(f-math.Round(f)) > 1e-3 {
					t.Fatalf("purego signed=%v: q(%g) = %v, want %v", signed, v, got, q)
				}
			}
			for _, ks := range Available() {
				got := make([]byte, n+1)
				got[n] = 0xEE
				ks.Quantize(got[:n], x, scale, zero, signed)
				if got[n] != 0xEE {
					t.Fatalf("%s: wrote past n", ks.Name())
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s n=%d signed=%v: q(%g) = %d, purego %d", ks.Name(), n, signed, x[i], got[i], want[i])
					}
				}
			}
		}
	}
	for _, ks := range Available() {
		q := []byte{1, 2, 3}
		ks.Quantize(q, []float32{5, -5, 0}, 0, 9, false)
		if q[0] != 9 || q[1] != 9 || q[2] != 9 {
			t.Errorf("%s: zero scale wrote %v, want the zero point", ks.Name(), q)
		}
	}
}

func TestMinMax(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 2, 7, 8, 15, 16, 17, 33, 100, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		wlo, whi := minMaxGo(x)
		for _, ks := range Available() {
			if lo, hi := ks.MinMax(x); lo != wlo || hi != whi {
				t.Fatalf("%s n=%d: (%g, %g), want (%g, %g)", ks.Name(), n, lo, hi, wlo, whi)
			}
			x[n-1] = float32(math.NaN())
			if lo, hi := ks.MinMax(x); lo == lo || hi == hi {
				t.Fatalf("%s n=%d: NaN input gave (%g, %g)", ks.Name(), n, lo, hi)
			}
			x[n-1] = 0
			wlo, whi = minMaxGo(x)
		}
	}
	for _, ks := range Available() {
		if lo, hi := ks.MinMax(nil); lo != 0 || hi != 0 {
			t.Errorf("%s: empty MinMax (%g, %g)", ks.Name(), lo, hi)
		}
	}
}
