package vmath

import (
	"fmt"
	"math"
	"testing"
)

// fn is one function under test with its float64 reference and bounds.
type fn struct {
	name  string
	apply func(ks Kernels, dst, src []float32)
	ref   func(x float64) float64
	limit float32 // sweep |x| ≤ limit (beyond it the result is constant)
	// Bounds: |y − ref| ≤ abs + rel·|ref| (relative part only where |ref|
	// is a normal float32), and for relMin > 0 also |y − ref| ≤
	// relTight·|ref| wherever |ref| ≥ relMin.
	abs, rel         float64
	relTight, relMin float64
}

func gelu64(x float64) float64 {
	if x < 0 {
		return 0.5 * x * math.Erfc(-x/math.Sqrt2)
	}
	return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
}

var fns = []fn{
	{name: "Exp", apply: Kernels.Exp, ref: math.Exp, limit: 110, rel: 1.5e-7},
	{name: "Sigmoid", apply: Kernels.Sigmoid, ref: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		limit: 110, abs: 0, rel: 2.5e-7},
	{name: "Tanh", apply: Kernels.Tanh, ref: math.Tanh, limit: 12, rel: 2e-7},
	{name: "Erf", apply: Kernels.Erf, ref: math.Erf, limit: 6, abs: 1.5e-7, relTight: 2.5e-7, relMin: 0},
	{name: "Gelu", apply: Kernels.Gelu, ref: gelu64, limit: 20, abs: 1e-37, rel: 1.2e-6},
}

// sweep returns every stride-th float32 in [−limit, limit] by bit pattern
// (so each binade gets the same number of points), the neighbourhoods of
// the algorithms' thresholds densely, and the two limits.
func sweep(limit float32, stride uint32) []float32 {
	var xs []float32
	top := math.Float32bits(limit)
	for b := uint32(0); b <= top; b += stride {
		x := math.Float32frombits(b)
		xs = append(xs, x, -x)
	}
	for _, t := range []float32{0.625, 1, 1.4142135, expHi, expLo, 87.33654, 88.72283, -87.33654, -88.72283, 4, 10, 14.142135} {
		b := math.Float32bits(t)
		for d := uint32(0); d < 2000; d++ {
			xs = append(xs, math.Float32frombits(b-1000+d), -math.Float32frombits(b-1000+d))
		}
	}
	return append(xs, limit, -limit)
}

func TestAccuracy(t *testing.T) {
	stride := uint32(997)
	if testing.Short() {
		stride = 15013
	}
	for _, ks := range Available() {
		for _, f := range fns {
			t.Run(ks.Name()+"/"+f.name, func(t *testing.T) {
				xs := sweep(f.limit, stride)
				ys := make([]float32, len(xs))
				f.apply(ks, ys, xs)
				var worstAbs, worstRel float64
				var atAbs, atRel float32
				for i, x := range xs {
					want := f.ref(float64(x))
					got := float64(ys[i])
					if w32 := float64(float32(want)); math.IsInf(w32, 0) {
						if got != w32 {
							t.Fatalf("%s(%g) = %g, want %g", f.name, x, got, w32)
						}
						continue
					}
					d := math.Abs(got - want)
					if d > worstAbs {
						worstAbs, atAbs = d, x
					}
					r := 0.0
					if math.Abs(want) >= 0x1p-126 {
						r = d / math.Abs(want)
						if r > worstRel {
							worstRel, atRel = r, x
						}
					}
					bound := f.abs + f.rel*math.Abs(want)
					if math.Abs(want) < 0x1p-126 {
						bound = f.abs + 0x1p-149
					}
					if f.relTight > 0 && math.Abs(want) >= f.relMin && math.Abs(want) >= 0x1p-126 {
						bound = max(bound, f.relTight*math.Abs(want))
					}
					if !(d <= bound) {
						t.Fatalf("%s(%g) = %g, want %g (error %.3g > %.3g)", f.name, x, got, want, d, bound)
					}
				}
				t.Logf("%d points: max abs error %.3g at %g, max rel error %.3g at %g", len(xs), worstAbs, atAbs, worstRel, atRel)
			})
		}
	}
}

func TestSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	max32, tiny := float32(math.MaxFloat32), float32(math.SmallestNonzeroFloat32)
	xs := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, nan, max32, -max32, tiny, -tiny, 0x1p-126, 1e-30, -1e-30}
	for _, ks := range Available() {
		for _, f := range fns {
			ys := make([]float32, len(xs))
			f.apply(ks, ys, xs)
			for i, x := range xs {
				want := f.ref(float64(x))
				if f.name == "Gelu" && math.IsInf(float64(x), -1) {
					want = math.NaN() // −∞·0, as the float64 formula gives
				}
				got := float64(ys[i])
				ok := math.IsNaN(want) && math.IsNaN(got) || got == want ||
					math.Abs(got-want) <= 1e-7*math.Abs(want) || math.Abs(want) < 0x1p-126 && math.Abs(got-want) <= 0x1p-126
				if !ok {
					t.Errorf("%s %s(%g) = %g, want %g", ks, f.name, x, got, want)
				}
				if want == 0 && got == 0 && math.Signbit(want) != math.Signbit(got) && f.name != "Exp" && f.name != "Gelu" {
					t.Errorf("%s %s(%g) = %g, want %g (sign of zero)", ks, f.name, x, got, want)
				}
			}
		}
	}
}

// TestLengths checks every length through the vector tails: each element is
// computed, none past len(dst) is touched, and in-place use works.
func TestLengths(t *testing.T) {
	const guard = 7
	for _, ks := range Available() {
		for _, f := range fns {
			for n := 0; n <= 70; n++ {
				src := make([]float32, n+guard)
				for i := range src {
					src[i] = float32(i%13)*0.37 - 2.1
				}
				dst := make([]float32, n+guard)
				for i := range dst {
					dst[i] = 12345
				}
				f.apply(ks, dst[:n], src)
				inPlace := append([]float32(nil), src[:n]...)
				f.apply(ks, inPlace, inPlace)
				for i := 0; i < n; i++ {
					want := f.ref(float64(src[i]))
					if d := math.Abs(float64(dst[i]) - want); d > 1e-6*max(1, math.Abs(want)) {
						t.Fatalf("%s %s n=%d: [%d] = %g, want %g", ks, f.name, n, i, dst[i], want)
					}
					if inPlace[i] != dst[i] {
						t.Fatalf("%s %s n=%d in place: [%d] = %g, want %g", ks, f.name, n, i, inPlace[i], dst[i])
					}
				}
				for i := n; i < n+guard; i++ {
					if dst[i] != 12345 {
						t.Fatalf("%s %s n=%d wrote dst[%d]", ks, f.name, n, i)
					}
				}
			}
		}
	}
}

func TestExpSum(t *testing.T) {
	for _, ks := range Available() {
		for n := 0; n <= 70; n++ {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(i%11)*0.9 - 3
			}
			dst := make([]float32, n+1)
			dst[n] = -1
			shift := float32(1.5)
			got := ks.ExpSum(dst[:n], src, shift)
			var want float64
			for i, x := range src {
				e := math.Exp(float64(x) - float64(shift))
				want += e
				if d := math.Abs(float64(dst[i]) - e); d > 3e-7*e {
					t.Fatalf("%s n=%d: dst[%d] = %g, want %g", ks, n, i, dst[i], e)
				}
			}
			if d := math.Abs(float64(got) - want); d > 1e-6*want {
				t.Fatalf("%s n=%d: sum %g, want %g", ks, n, got, want)
			}
			if dst[n] != -1 {
				t.Fatalf("%s n=%d wrote past the end", ks, n)
			}
		}
	}
}

func TestShortSourcePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Exp with a short src did not panic")
		}
	}()
	Best().Exp(make([]float32, 4), make([]float32, 3))
}

func TestAllocs(t *testing.T) {
	src, dst := make([]float32, 100), make([]float32, 100)
	for _, ks := range Available() {
		for _, f := range fns {
			if a := testing.AllocsPerRun(10, func() { f.apply(ks, dst, src) }); a != 0 {
				t.Errorf("%s %s: %v allocations", ks, f.name, a)
			}
		}
		if a := testing.AllocsPerRun(10, func() { ks.ExpSum(dst, src, 0) }); a != 0 {
			t.Errorf("%s ExpSum: %v allocations", ks, a)
		}
	}
}

func TestAvailable(t *testing.T) {
	sets := Available()
	if len(sets) == 0 || sets[len(sets)-1].Name() != "purego" {
		t.Fatalf("Available() = %v, want pure Go last", sets)
	}
	if Best() != sets[0] {
		t.Fatalf("Best() = %v, want %v", Best(), sets[0])
	}
	var zero Kernels
	if zero.Name() != "purego" {
		t.Fatalf("zero Kernels is %v", zero)
	}
}

func BenchmarkVMath(b *testing.B) {
	src := make([]float32, 1024)
	for i := range src {
		src[i] = float32(i%200)*0.05 - 5
	}
	dst := make([]float32, len(src))
	for _, ks := range Available() {
		for _, f := range fns {
			b.Run(fmt.Sprintf("%s/%s", f.name, ks), func(b *testing.B) {
				b.SetBytes(int64(4 * len(src)))
				for range b.N {
					f.apply(ks, dst, src)
				}
			})
		}
	}
	b.Run("Exp/math.Exp-float64", func(b *testing.B) {
		b.SetBytes(int64(4 * len(src)))
		for range b.N {
			for i, x := range src {
				dst[i] = float32(math.Exp(float64(x)))
			}
		}
	})
}
