package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// qdqGraph builds x → QuantizeLinear → DequantizeLinear → product with a
// DequantizeLinear'd int8 weight (+ bias, ReLU), as ONNX Runtime's QDQ
// quantizer writes it. gemmT uses Gemm with transB and a per-tensor weight
// scale; otherwise MatMul with per-column scales.
func qdqGraph(t testing.TB, gemmT bool) *graph.Graph {
	t.Helper()
	rng := rand.New(rand.NewPCG(31, 32))
	const k, n = 16, 8
	b := graph.NewBuilder("qdq", 13)
	b.Input("x", tensor.Float32, "batch", k)
	b.Initializer("sx", tensor.Scalar[float32](0.02))
	b.Initializer("zx", tensor.Scalar[uint8](128))
	wq := make([]int8, k*n)
	for i := range wq {
		wq[i] = int8(rng.IntN(255) - 127)
	}
	bias := make([]float32, n)
	for i := range bias {
		bias[i] = float32(rng.NormFloat64())
	}
	b.Initializer("bias", tensor.From(bias, n))
	xq := b.Op("QuantizeLinear", nil, "x", "sx", "zx")
	xd := b.Op("DequantizeLinear", nil, xq, "sx", "zx")
	var y string
	if gemmT {
		b.Initializer("w", tensor.From(wq, n, k))
		b.Initializer("sw", tensor.Scalar[float32](0.01))
		wd := b.Op("DequantizeLinear", nil, "w", "sw")
		y = b.Op("Gemm", map[string]*graph.Attr{"transB": graph.IntAttr(1), "alpha": graph.FloatAttr(0.5)}, xd, wd, "bias")
	} else {
		sw := make([]float32, n)
		for i := range sw {
			sw[i] = 0.005 * float32(i+1)
		}
		b.Initializer("w", tensor.From(wq, k, n))
		b.Initializer("sw", tensor.From(sw, n))
		b.Initializer("zw", tensor.From(make([]int8, n), n))
		wd := b.Op("DequantizeLinear", map[string]*graph.Attr{"axis": graph.IntAttr(1)}, "w", "sw", "zw")
		y = b.Op("Add", nil, b.Op("MatMul", nil, xd, wd), "bias")
	}
	b.Output(b.Op("Relu", nil, y))
	g := b.Graph()
	if _, err := graph.Optimize(g, engine.Evaluator{}, graph.OptimizeOptions{}); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFoldQDQ(t *testing.T) {
	for _, gemmT := range []bool{false, true} {
		x := randomBatch(2, 64, 16)
		ref := runGraph(t, qdqGraph(t, gemmT), x)
		g := qdqGraph(t, gemmT)
		q, n, err := FoldQDQ(g)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || q == nil || q.Mode != ModeInt8 {
			t.Fatalf("gemm %v: folded %d products (record %+v), want 1", gemmT, n, q)
		}
		for _, nd := range g.Nodes {
			if nd.Op != "QuantMatMul" {
				t.Errorf("gemm %v: %v left after folding", gemmT, nd)
			}
		}
		got := runGraph(t, g, x)
		maxAbs, meanAbs, refMax, _ := compareMean(ref, got)
		t.Logf("gemm %v: folded vs QDQ: max abs %.3g, mean abs %.3g (|y| max %.3g)", gemmT, maxAbs, meanAbs, refMax)
		// The two differ only where x/s lands on a rounding tie (ONNX
		// rounds half to even, the kernel half away from zero): one step
		// of A, times a weight column.
		if maxAbs > 0.02*refMax || meanAbs > 1e-3*refMax {
			t.Errorf("gemm %v: folded graph differs from the QDQ one by %.3g (mean %.3g)", gemmT, maxAbs, meanAbs)
		}
	}
}
