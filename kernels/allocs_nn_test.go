package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// TestNNRunDoesNotAllocate holds the kernel contract: Step.Run makes no heap
// allocation.
func TestNNRunDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	all := []bool{true, true, true}
	cases := []struct {
		name string
		r    *nodeRun
	}{
		{"MatMul", prepareNode(t, "MatMul", 13, nil, all[:1], randT(rng, 2, 8, 16), randT(rng, 16, 12))},
		{"MatMul batched", prepareNode(t, "MatMul", 13, nil, all[:1], randT(rng, 2, 8, 16), randT(rng, 2, 16, 12))},
		{"MatMul GEMV", prepareNode(t, "MatMul", 13, nil, all[:1], randT(rng, 1, 16), randT(rng, 16, 12))},
		{"Gemm", prepareNode(t, "Gemm", 13, map[string]*graph.Attr{"transB": attrInt(1)}, all[:1], randT(rng, 4, 16), randT(rng, 12, 16), randT(rng, 12))},
		{"FusedGemm", prepareNode(t, "FusedGemm", 13, map[string]*graph.Attr{"activation": attrStr("Gelu")}, all[:1], randT(rng, 4, 16), randT(rng, 16, 12), randT(rng, 12))},
		{"FusedMatMul", prepareNode(t, "FusedMatMul", 13, map[string]*graph.Attr{"activation": attrStr("Relu")}, all[:1], randT(rng, 4, 16), randT(rng, 16, 12), randT(rng, 12))},
		{"Conv", prepareNode(t, "Conv", 11, map[string]*graph.Attr{"pads": attrInts(1, 1, 1, 1)}, all[:1], randT(rng, 1, 3, 8, 8), randT(rng, 4, 3, 3, 3), randT(rng, 4))},
		{"MaxPool", prepareNode(t, "MaxPool", 12, map[string]*graph.Attr{"kernel_shape": attrInts(2, 2)}, all[:2], randT(rng, 1, 3, 8, 8))},
		{"AveragePool", prepareNode(t, "AveragePool", 11, map[string]*graph.Attr{"kernel_shape": attrInts(3)}, all[:1], randT(rng, 1, 3, 8))},
		{"GRU", prepareNode(t, "GRU", 14, map[string]*graph.Attr{"hidden_size": attrInt(5), "direction": attrStr("bidirectional")}, all[:2],
			randT(rng, 4, 2, 3), randT(rng, 2, 15, 3), randT(rng, 2, 15, 5), randT(rng, 2, 30))},
		{"LSTM", prepareNode(t, "LSTM", 14, map[string]*graph.Attr{"hidden_size": attrInt(5)}, all[:3],
			randT(rng, 4, 2, 3), randT(rng, 1, 20, 3), randT(rng, 1, 20, 5), randT(rng, 1, 40), tensor.From([]int32{4, 2}, 2))},
		{"LayerNormalization", prepareNode(t, "LayerNormalization", 17, nil, all[:3], randT(rng, 2, 3, 8), randT(rng, 8), randT(rng, 8))},
		{"BatchNormalization", prepareNode(t, "BatchNormalization", 15, nil, all[:1], randT(rng, 2, 3, 4), randT(rng, 3), randT(rng, 3), randT(rng, 3), randT(rng, 3))},
		{"Softmax", prepareNode(t, "Softmax", 13, map[string]*graph.Attr{"axis": attrInt(1)}, all[:1], randT(rng, 2, 3, 8))},
		{"ReduceSum", prepareNode(t, "ReduceSum", 13, nil, all[:1], randT(rng, 2, 3, 8), tensor.From([]int64{0, 2}, 2))},
	}
	for _, c := range cases {
		c.r.run(t)
		if n := testing.AllocsPerRun(20, func() { c.r.run(t) }); n != 0 {
			t.Errorf("%s: Run allocates %v times", c.name, n)
		}
	}
}

func BenchmarkLSTM(b *testing.B) {
	rng := rand.New(rand.NewPCG(43, 44))
	r := prepareNode(b, "LSTM", 14, map[string]*graph.Attr{"hidden_size": attrInt(64)}, []bool{true, true},
		randT(rng, 32, 1, 32), randT(rng, 1, 256, 32), randT(rng, 1, 256, 64))
	b.ReportAllocs()
	for b.Loop() {
		r.run(b)
	}
}

func BenchmarkConv3x3(b *testing.B) {
	rng := rand.New(rand.NewPCG(45, 46))
	r := prepareNode(b, "Conv", 11, map[string]*graph.Attr{"pads": attrInts(1, 1, 1, 1)}, []bool{true},
		randT(rng, 1, 16, 32, 32), randT(rng, 32, 16, 3, 3))
	b.ReportAllocs()
	for b.Loop() {
		r.run(b)
	}
}
