package kernels

import (
	"math"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func TestSigmoidStableForLargeInputs(t *testing.T) {
	x := tensor.From([]float32{-1000, -88, -20, 0, 20, 88, 1000, float32(math.Inf(1)), float32(math.Inf(-1))}, 9)
	got := tensor.Data[float32](run(t, node("Sigmoid", nil), 13, tensor.Float32, tensor.Shape{9}, x))
	for i, v := range got {
		if v != v || v < 0 || v > 1 {
			t.Fatalf("Sigmoid(%v) = %v", tensor.Data[float32](x)[i], v)
		}
	}
	if got[0] != 0 || got[3] != 0.5 || got[6] != 1 || got[7] != 1 || got[8] != 0 {
		t.Fatalf("Sigmoid = %v", got)
	}
	if want := float32(1 / (1 + math.Exp(20))); math.Abs(float64(got[2]-want)) > 1e-6*float64(want) {
		t.Fatalf("Sigmoid(-20) = %v, want %v", got[2], want)
	}
}

func TestErfAccuracy(t *testing.T) {
	n := 2001
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = -5 + 10*float64(i)/float64(n-1)
	}
	x := numericTensor(tensor.Float64, tensor.Shape{n}, vals)
	got := tensor.Data[float64](run(t, node("Erf", nil), 13, tensor.Float64, tensor.Shape{n}, x))
	// Reference values: erf(0.5) and erf(1) to 16 digits (Abramowitz &
	// Stegun, table 7.1).
	for _, c := range []struct{ x, erf float64 }{{0.5, 0.5204998778130465}, {1, 0.8427007929497149}} {
		if d := math.Abs(math.Erf(c.x) - c.erf); d > 1e-15 {
			t.Fatalf("math.Erf(%v) off by %v", c.x, d)
		}
	}
	for i, v := range vals {
		want := math.Erf(v)
		if math.Abs(got[i]-want) > 1e-7*math.Abs(want) {
			t.Fatalf("Erf(%v) = %v, want %v", v, got[i], want)
		}
	}
	// float32 runs on the vector kernels (package vmath): within 2e-7
	// relative, about two ulp.
	x32 := tensor.From([]float32{0.5, -1, 3}, 3)
	g32 := tensor.Data[float32](run(t, node("Erf", nil), 13, tensor.Float32, tensor.Shape{3}, x32))
	for i, v := range []float64{0.5, -1, 3} {
		if want := math.Erf(v); math.Abs(float64(g32[i])-want) > 2e-7*math.Abs(want) {
			t.Fatalf("Erf float32(%v) = %v, want %v", v, g32[i], want)
		}
	}
}

func TestActivationValues(t *testing.T) {
	xs := []float32{-3, -1, 0, 0.5, 2, 4}
	x := tensor.From(xs, len(xs))
	sh := tensor.Shape{len(xs)}
	cases := []struct {
		op    string
		attrs map[string]*graph.Attr
		f     func(x float64) float64
	}{
		{"Relu", nil, func(x float64) float64 { return math.Max(x, 0) }},
		{"LeakyRelu", nil, func(x float64) float64 { return math.Max(x, 0) + 0.01*math.Min(x, 0) }},
		{"LeakyRelu", map[string]*graph.Attr{"alpha": fattr(0.1)}, func(x float64) float64 { return math.Max(x, 0) + 0.1*math.Min(x, 0) }},
		{"HardSigmoid", nil, func(x float64) float64 { return math.Max(0, math.Min(1, 0.2*x+0.5)) }},
		{"HardSigmoid", map[string]*graph.Attr{"alpha": fattr(0.5), "beta": fattr(0.6)}, func(x float64) float64 { return math.Max(0, math.Min(1, 0.5*x+0.6)) }},
		{"HardSwish", nil, func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }},
		{"Tanh", nil, math.Tanh},
		{"Exp", nil, math.Exp},
		{"Sqrt", nil, math.Sqrt},
		{"Log", nil, math.Log},
		{"Neg", nil, func(x float64) float64 { return -x }},
		{"Gelu", nil, func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }},
		{"Gelu", map[string]*graph.Attr{"approximate": {Kind: graph.AttrString, String: "tanh"}}, func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}},
	}
	for _, c := range cases {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
			in := x
			if dt != tensor.Float32 {
				in = numericTensor(dt, sh, func() []float64 {
					v := make([]float64, len(xs))
					for i, f := range xs {
						v[i] = float64(f)
					}
					return v
				}())
			}
			got := run(t, node(c.op, c.attrs), 20, dt, sh, in)
			tol := map[tensor.DType]float64{tensor.Float32: 1e-6, tensor.Float16: 1e-3, tensor.BFloat16: 8e-3}[dt]
			for i, v := range xs {
				want := c.f(float64(v))
				g := got.Float64At(i)
				if math.IsNaN(want) {
					if !math.IsNaN(g) {
						t.Errorf("%s %v (%v) = %v, want NaN", c.op, dt, v, g)
					}
					continue
				}
				if math.Abs(g-want) > tol*math.Max(math.Abs(want), 1e-3) {
					t.Errorf("%s %v (%v) = %v, want %v", c.op, dt, v, g, want)
				}
			}
		}
	}
	if _, err := New(node("Gelu", map[string]*graph.Attr{"approximate": {Kind: graph.AttrString, String: "erf"}}), 20); err == nil {
		t.Error("Gelu accepted approximate=\"erf\"")
	}
	k, _ := New(node("Exp", nil), 13)
	if _, err := k.Prepare([]*tensor.Tensor{tensor.From([]int32{1}, 1)}, []*tensor.Tensor{tensor.New(tensor.Int32, 1)}); err == nil {
		t.Error("Exp accepted int32")
	}
}

// TestHalfChunks runs a float16 op over more elements than one scratch
// chunk, with a broadcast row, so chunk boundaries and offsets are covered.
func TestHalfChunks(t *testing.T) {
	n := 3*ewChunk + 17
	va, vb := make([]float32, 2*n), make([]float32, n)
	for i := range va {
		va[i] = float32(i%64) / 4
	}
	for i := range vb {
		vb[i] = float32(i%9) - 4
	}
	a, b := f16(tensor.Shape{2, n}, va...), f16(tensor.Shape{n}, vb...)
	got := run(t, node("Mul", nil), 14, tensor.Float16, tensor.Shape{2, n}, a, b)
	for e := range 2 * n {
		if want := float64(va[e] * vb[e%n]); got.Float64At(e) != want {
			t.Fatalf("Mul float16 element %d = %v, want %v", e, got.Float64At(e), want)
		}
	}
	sq := run(t, node("Sqrt", nil), 13, tensor.Float16, tensor.Shape{2, n}, a)
	for e := range 2 * n {
		want := float64(tensor.Float16FromFloat32(float32(math.Sqrt(float64(va[e])))).Float32())
		if sq.Float64At(e) != want {
			t.Fatalf("Sqrt float16 element %d = %v, want %v", e, sq.Float64At(e), want)
		}
	}
}
