package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// shBench prepares a node and measures its Run.
func shBench(b *testing.B, op string, opset int, attrs map[string]*graph.Attr, in ...*tensor.Tensor) {
	p, err := shPrepare(op, opset, attrs, 1, nil, in...)
	if err != nil {
		b.Fatal(err)
	}
	bytes := 0
	for _, o := range p.out {
		bytes += len(o.Raw)
	}
	b.SetBytes(int64(bytes))
	scratch := make([]byte, p.step.Scratch)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.step.Run(p.in, p.out, scratch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranspose(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := shRandom(rng, tensor.Float32, 32, 64, 128)
	b.Run("keep-inner", func(b *testing.B) {
		shBench(b, "Transpose", 13, map[string]*graph.Attr{"perm": graph.IntsAttr(1, 0, 2)}, x)
	})
	b.Run("swap-inner", func(b *testing.B) {
		shBench(b, "Transpose", 13, map[string]*graph.Attr{"perm": graph.IntsAttr(0, 2, 1)}, x)
	})
	b.Run("reverse", func(b *testing.B) { shBench(b, "Transpose", 13, nil, x) })
}

func BenchmarkGather(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	table := shRandom(rng, tensor.Float32, 1000, 64)
	idx := make([]int64, 256)
	for i := range idx {
		idx[i] = int64(rng.IntN(1000))
	}
	shBench(b, "Gather", 13, nil, table, tensor.From(idx, 256))
}

func BenchmarkConcat(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 3))
	x, y := shRandom(rng, tensor.Float32, 64, 100), shRandom(rng, tensor.Float32, 64, 28)
	shBench(b, "Concat", 13, map[string]*graph.Attr{"axis": graph.IntAttr(1)}, x, y)
}

func BenchmarkSliceLastStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 4))
	x := shRandom(rng, tensor.Float32, 16, 50, 64)
	shBench(b, "Slice", 13, nil, x, ints(-1), ints(1<<62), ints(1))
}
