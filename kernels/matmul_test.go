package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// refMatMul is numpy.matmul in float64 by definition: promote 1-D operands,
// broadcast the batch axes, sum over k.
func refMatMul(a, b *tensor.Tensor) ([]float64, tensor.Shape) {
	as, bs := a.Shape.Clone(), b.Shape.Clone()
	if len(as) == 1 {
		as = tensor.Shape{1, as[0]}
	}
	if len(bs) == 1 {
		bs = tensor.Shape{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	batch, err := tensor.BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		panic(err)
	}
	sa := tensor.BroadcastStrides(as[:len(as)-2], batch)
	sb := tensor.BroadcastStrides(bs[:len(bs)-2], batch)
	av, bv := f64s(a), f64s(b)
	var out []float64
	for bi := 0; bi < batch.NumElements(); bi++ {
		oa, ob, r := 0, 0, bi
		for d := len(batch) - 1; d >= 0; d-- {
			x := r % batch[d]
			r /= batch[d]
			oa += x * sa[d]
			ob += x * sb[d]
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					s += av[oa*m*k+i*k+p] * bv[ob*k*n+p*n+j]
				}
				out = append(out, s)
			}
		}
	}
	shape := append(batch.Clone(), m, n)
	if len(a.Shape) == 1 {
		shape = append(shape[:len(shape)-2], shape[len(shape)-1:]...)
	}
	if len(b.Shape) == 1 {
		shape = shape[:len(shape)-1]
	}
	return out, shape
}

func TestMatMulShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct{ a, b tensor.Shape }{
		{tensor.Shape{3, 4}, tensor.Shape{4, 5}},
		{tensor.Shape{1, 7}, tensor.Shape{7, 9}},    // GEMV
		{tensor.Shape{4}, tensor.Shape{4, 6}},       // 1-D A
		{tensor.Shape{3, 4}, tensor.Shape{4}},       // 1-D B
		{tensor.Shape{5}, tensor.Shape{5}},          // dot
		{tensor.Shape{2, 3, 4}, tensor.Shape{4, 5}}, // shared B: batch folded into M
		{tensor.Shape{2, 1, 3, 4}, tensor.Shape{5, 4, 2}},
		{tensor.Shape{3, 4}, tensor.Shape{2, 4, 6}}, // A broadcast over B's batch
		{tensor.Shape{37, 300}, tensor.Shape{300, 270}},
		{tensor.Shape{6, 0}, tensor.Shape{0, 3}},
	}
	for _, c := range cases {
		a, b := randT(rng, c.a...), randT(rng, c.b...)
		want, shape := refMatMul(a, b)
		got := runOp(t, "MatMul", 13, nil, 1, a, b)[0]
		assertClose(t, "MatMul "+c.a.String()+"×"+c.b.String(), got, want, shape, 1e-5, 1e-4)
	}
}

func TestMatMulFloat64AndInt(t *testing.T) {
	a := tensor.From([]float64{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.From([]float64{1, 0, 0, 1, 1, 1}, 3, 2)
	got := runOp(t, "MatMul", 13, nil, 1, a, b)[0]
	assertClose(t, "f64", got, []float64{4, 5, 10, 11}, tensor.Shape{2, 2}, 0, 0)
	ai := tensor.From([]int32{1, 2, 3, 4, 5, 6}, 2, 3)
	bi := tensor.From([]int32{1, -1, 2, 0, 0, 3}, 3, 2)
	got = runOp(t, "MatMul", 13, nil, 1, ai, bi)[0]
	assertClose(t, "int32", got, []float64{5, 8, 14, 14}, tensor.Shape{2, 2}, 0, 0)
}

// refGemm is alpha·op(A)·op(B) + beta·C in float64.
func refGemm(a, b, c *tensor.Tensor, alpha, beta float64, ta, tb bool) []float64 {
	m, k := a.Shape[0], a.Shape[1]
	if ta {
		m, k = k, m
	}
	n := b.Shape[1]
	if tb {
		n = b.Shape[0]
	}
	av, bv := f64s(a), f64s(b)
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				x, y := av[i*k+p], bv[p*n+j]
				if ta {
					x = av[p*m+i]
				}
				if tb {
					y = bv[j*k+p]
				}
				s += x * y
			}
			out[i*n+j] = alpha * s
			if c != nil {
				st := tensor.BroadcastStrides(c.Shape, tensor.Shape{m, n})
				out[i*n+j] += beta * c.Float64At(i*st[0]+j*st[1])
			}
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, m := range []int{1, 6, 33} {
				for _, cshape := range []tensor.Shape{nil, {}, {1}, {17}, {m, 1}, {m, 17}} {
					k, n := 19, 17
					as, bs := tensor.Shape{m, k}, tensor.Shape{k, n}
					if ta {
						as = tensor.Shape{k, m}
					}
					if tb {
						bs = tensor.Shape{n, k}
					}
					a, b := randT(rng, as...), randT(rng, bs...)
					var c *tensor.Tensor
					if cshape != nil {
						c = randT(rng, cshape...)
					}
					attrs := map[string]*graph.Attr{"alpha": attrFloat(0.5), "beta": attrFloat(-2)}
					if ta {
						attrs["transA"] = attrInt(1)
					}
					if tb {
						attrs["transB"] = attrInt(1)
					}
					want := refGemm(a, b, c, 0.5, -2, ta, tb)
					var got *tensor.Tensor
					if c == nil {
						got = runOp(t, "Gemm", 13, attrs, 1, a, b)[0]
					} else {
						got = runOp(t, "Gemm", 13, attrs, 1, a, b, c)[0]
					}
					assertClose(t, "Gemm", got, want, tensor.Shape{m, n}, 1e-5, 1e-4)
				}
			}
		}
	}
}

func TestFusedOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	acts := map[string]func(float64) float64{
		"":          func(x float64) float64 { return x },
		"Relu":      func(x float64) float64 { return math.Max(x, 0) },
		"LeakyRelu": func(x float64) float64 { return map[bool]float64{true: 0.2 * x, false: x}[x < 0] },
		"Sigmoid":   func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		"Tanh":      math.Tanh,
		"Gelu":      func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
		"GeluTanh": func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		},
	}
	for name, f := range acts {
		attrs := map[string]*graph.Attr{"activation": attrStr(name), "activation_alpha": attrFloat(0.2), "transB": attrInt(1)}
		a, b, c := randT(rng, 5, 8), randT(rng, 3, 8), randT(rng, 3)
		want := refGemm(a, b, c, 1, 1, false, true)
		for i := range want {
			want[i] = f(want[i] * 2)
		}
		for i := range tensor.Data[float32](a) {
			tensor.Data[float32](a)[i] *= 2
		}
		for i := range tensor.Data[float32](c) {
			tensor.Data[float32](c)[i] *= 2
		}
		got := runOp(t, "FusedGemm", 13, attrs, 1, a, b, c)[0]
		assertClose(t, "FusedGemm "+name, got, want, tensor.Shape{5, 3}, 1e-5, 1e-4)

		a, b = randT(rng, 2, 4, 6), randT(rng, 6, 3)
		bias := randT(rng, 3)
		mm, shape := refMatMul(a, b)
		for i := range mm {
			mm[i] = f(mm[i] + bias.Float64At(i%3))
		}
		delete(attrs, "transB")
		got = runOp(t, "FusedMatMul", 13, attrs, 1, a, b, bias)[0]
		assertClose(t, "FusedMatMul "+name, got, mm, shape, 1e-5, 1e-4)
	}
}

func TestMatMulRejectsBadShapes(t *testing.T) {
	k, err := New(&graph.Node{Op: "MatMul"}, 13)
	if err != nil {
		t.Fatal(err)
	}
	a, b := tensor.New(tensor.Float32, 2, 3), tensor.New(tensor.Float32, 4, 5)
	if _, err := k.Prepare([]*tensor.Tensor{a, b}, []*tensor.Tensor{tensor.New(tensor.Float32, 2, 5)}); err == nil {
		t.Fatal("Prepare accepted mismatched inner dimensions")
	}
	if _, err := newGemm(&graph.Node{Op: "FusedGemm", Attrs: map[string]*graph.Attr{"activation": attrStr("Swish")}}, 13); err == nil {
		t.Fatal("FusedGemm accepted an unknown activation")
	}
}

func BenchmarkGemm256(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	x, w := randT(rng, 256, 256), randT(rng, 256, 256)
	r := prepareNode(b, "MatMul", 13, nil, []bool{true}, x, w)
	b.ReportAllocs()
	for b.Loop() {
		r.run(b)
	}
	b.ReportMetric(2*256*256*256*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
