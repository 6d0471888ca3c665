package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// TestVecElementwiseFloat32 runs the float32 operators that use the vector
// kernels over [−12, 12] (300 elements: more than GeluTanh's 256-element
// chunk, and a tail for every vector width) against float64 math.
func TestVecElementwiseFloat32(t *testing.T) {
	const n = 300
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = float64(float32(-12 + 24*float64(i)/(n-1)))
	}
	gelu := func(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }
	geluTanh := func(x float64) float64 { // ½(1 + tanh y) = σ(2y), no cancellation
		return x / (1 + math.Exp(-2*math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	for _, c := range []struct {
		op    string
		attrs map[string]*graph.Attr
		ref   func(float64) float64
		rel   float64
	}{
		{"Exp", nil, math.Exp, 2e-7},
		{"Sigmoid", nil, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, 3e-7},
		{"Tanh", nil, math.Tanh, 3e-7},
		{"Erf", nil, math.Erf, 3e-7},
		{"Gelu", nil, gelu, 1.2e-6},
		// The tanh form's argument y is rounded to float32, which costs a
		// relative error of up to 2|y|·2⁻²⁴ in the negative tail (checked
		// below on top of rel).
		{"Gelu", map[string]*graph.Attr{"approximate": attrStr("tanh")}, geluTanh, 3e-7},
	} {
		x := numericTensor(tensor.Float32, tensor.Shape{n}, vals)
		got := tensor.Data[float32](run(t, node(c.op, c.attrs), 20, tensor.Float32, tensor.Shape{n}, x))
		for i, v := range vals {
			want := c.ref(v)
			rel := c.rel
			if c.attrs != nil {
				rel += 2 * math.Abs(2*math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)) * 0x1p-24
			}
			if d := math.Abs(float64(got[i]) - want); d > rel*math.Abs(want)+0x1p-126 { // absolute in the subnormal range
				t.Fatalf("%s %v (%s): f(%v) = %v, want %v (rel %.3g)", c.op, c.attrs, vecMath, v, got[i], want, d/math.Abs(want))
			}
		}
	}
}

// TestSoftmaxRows32 checks the float32 row path of Softmax and LogSoftmax
// on row lengths around the vector widths, with large values and −Inf.
func TestSoftmaxRows32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 5, 8, 16, 17, 32, 67} {
		x := randT(rng, 3, n)
		xs := tensor.Data[float32](x)
		for i := range xs {
			xs[i] *= 40
		}
		if n > 2 {
			xs[1] = float32(math.Inf(-1))
		}
		for _, op := range []string{"Softmax", "LogSoftmax"} {
			log := op == "LogSoftmax"
			want := refSoftmax(f64s(x), 3, n, 1, log)
			got := runOp(t, op, 13, nil, 1, x)[0]
			for i, w := range want {
				g := got.Float64At(i)
				if math.IsInf(w, -1) && math.IsInf(g, -1) {
					continue
				}
				if math.Abs(g-w) > 1e-6+1e-5*math.Abs(w) {
					t.Fatalf("%s n=%d: element %d = %v, want %v", op, n, i, g, w)
				}
			}
		}
	}
}

// TestLayerNormRows32 checks the float32 full-shape path of
// LayerNormalization on rows of 67 (not a multiple of the four
// accumulators), with and without B, and its Mean and InvStdDev outputs.
func TestLayerNormRows32(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const outer, n = 5, 67
	x, sc, b := randT(rng, outer, n), randT(rng, n), randT(rng, n)
	xs := tensor.Data[float32](x)
	for i := range xs {
		xs[i] = xs[i]*3 + 100 // a large mean
	}
	for _, withBias := range []bool{true, false} {
		ins := []*tensor.Tensor{x, sc}
		if withBias {
			ins = append(ins, b)
		}
		got := runOp(t, "LayerNormalization", 17, map[string]*graph.Attr{"axis": attrInt(-1)}, 3, ins...)
		xv, sv, bv := f64s(x), f64s(sc), f64s(b)
		for o := 0; o < outer; o++ {
			row := xv[o*n : (o+1)*n]
			var mean, ss float64
			for _, v := range row {
				mean += v
			}
			mean /= n
			for _, v := range row {
				ss += (v - mean) * (v - mean)
			}
			inv := 1 / math.Sqrt(ss/n+1e-5)
			if g := got[1].Float64At(o); math.Abs(g-mean) > 1e-5*math.Abs(mean) {
				t.Fatalf("mean[%d] = %v, want %v", o, g, mean)
			}
			if g := got[2].Float64At(o); math.Abs(g-inv) > 1e-6*inv {
				t.Fatalf("invstddev[%d] = %v, want %v", o, g, inv)
			}
			for j, v := range row {
				want := (v - mean) * inv * sv[j]
				if withBias {
					want += bv[j]
				}
				if g := got[0].Float64At(o*n + j); math.Abs(g-want) > 1e-5+1e-5*math.Abs(want) {
					t.Fatalf("bias %v: y[%d,%d] = %v, want %v", withBias, o, j, g, want)
				}
			}
		}
	}
}

// TestVecKernelsDoNotAllocate runs the float32 steps that use the vector
// kernels (GeluTanh's stack buffer included) under AllocsPerRun.
func TestVecKernelsDoNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		op    string
		opset int
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
		nout  int
	}{
		{"Gelu", 20, map[string]*graph.Attr{"approximate": attrStr("tanh")}, []*tensor.Tensor{randT(rng, 600)}, 1},
		{"Gelu", 20, nil, []*tensor.Tensor{randT(rng, 600)}, 1},
		{"Sigmoid", 13, nil, []*tensor.Tensor{randT(rng, 77)}, 1},
		{"Softmax", 13, nil, []*tensor.Tensor{randT(rng, 4, 33)}, 1},
		{"LogSoftmax", 13, nil, []*tensor.Tensor{randT(rng, 4, 33)}, 1},
		{"LayerNormalization", 17, nil, []*tensor.Tensor{randT(rng, 4, 33), randT(rng, 33), randT(rng, 33)}, 1},
		{"GRU", 14, map[string]*graph.Attr{"hidden_size": attrInt(16), "linear_before_reset": attrInt(1)},
			[]*tensor.Tensor{randT(rng, 3, 1, 8), randT(rng, 1, 48, 8), randT(rng, 1, 48, 16), randT(rng, 1, 96)}, 2},
		{"LSTM", 14, map[string]*graph.Attr{"hidden_size": attrInt(16)},
			[]*tensor.Tensor{randT(rng, 3, 1, 8), randT(rng, 1, 64, 8), randT(rng, 1, 64, 16), randT(rng, 1, 128)}, 2},
	} {
		used := make([]bool, c.nout)
		for i := range used {
			used[i] = true
		}
		r := prepareNode(t, c.op, c.opset, c.attrs, used, c.in...)
		if a := testing.AllocsPerRun(20, func() { r.run(t) }); a != 0 {
			t.Errorf("%s %v: Run allocates %v times", c.op, c.attrs, a)
		}
	}
}

func BenchmarkSoftmaxRows(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	// The transformer's attention: 4 heads × 32 queries × 32 keys.
	r := prepareNode(b, "Softmax", 13, nil, []bool{true}, randT(rng, 4, 32, 32))
	b.ReportAllocs()
	for b.Loop() {
		r.run(b)
	}
}

func BenchmarkVecElementwise(b *testing.B) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, op := range []string{"Sigmoid", "Tanh", "Exp", "Erf", "Gelu"} {
		b.Run(fmt.Sprint(op), func(b *testing.B) {
			r := prepareNode(b, op, 20, nil, []bool{true}, randT(rng, 4096))
			for b.Loop() {
				r.run(b)
			}
		})
	}
}
