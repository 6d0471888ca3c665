package kernels

import (
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

type ewCase struct {
	name  string
	n     *graph.Node
	opset int
	dt    tensor.DType
	shape tensor.Shape
	in    []*tensor.Tensor
}

func ewCases() []ewCase {
	f := func(shape ...int) *tensor.Tensor {
		t := tensor.New(tensor.Float32, shape...)
		for i, d := 0, tensor.Data[float32](t); i < len(d); i++ {
			d[i] = float32(i%17) - 8
		}
		return t
	}
	h := f16(tensor.Shape{64, 64}, tensor.Data[float32](f(64, 64))...)
	b := tensor.New(tensor.Bool, 64, 64)
	return []ewCase{
		{"Add/same", node("Add", nil), 14, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), f(64, 64)}},
		{"Add/bias", node("Add", nil), 14, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), f(64)}},
		{"Mul/scalar", node("Mul", nil), 14, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), f()}},
		{"Sub/outer", node("Sub", nil), 14, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 1), f(1, 64)}},
		{"Mul/f16", node("Mul", nil), 14, tensor.Float16, tensor.Shape{64, 64}, []*tensor.Tensor{h, h}},
		{"Max/3", node("Max", nil), 13, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), f(64), f()}},
		{"Less", node("Less", nil), 13, tensor.Bool, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), f(64)}},
		{"Where", node("Where", nil), 16, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{b, f(64, 64), f(1)}},
		{"Clip", node("Clip", nil), 13, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), f(), f()}},
		{"Sigmoid", node("Sigmoid", nil), 13, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64)}},
		{"Gelu/f16", node("Gelu", nil), 20, tensor.Float16, tensor.Shape{64, 64}, []*tensor.Tensor{h}},
		{"Pow/square", node("Pow", nil), 15, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), tensor.Scalar[float32](2)}},
		{"Pow/mixed", node("Pow", nil), 15, tensor.Float32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64), tensor.Scalar[int64](3)}},
		{"Cast/f16", castNode(tensor.Float16), 13, tensor.Float16, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64)}},
		{"Cast/i32", castNode(tensor.Int32), 13, tensor.Int32, tensor.Shape{64, 64}, []*tensor.Tensor{f(64, 64)}},
	}
}

// TestElementwiseRunDoesNotAllocate is the Step contract: Run allocates
// nothing on the heap.
func TestElementwiseRunDoesNotAllocate(t *testing.T) {
	for _, c := range ewCases() {
		s, out := prepare(t, c.n, c.opset, c.dt, c.shape, c.in...)
		outs := []*tensor.Tensor{out}
		scratch := tensor.AlignedBytes(s.Scratch)
		allocs := testing.AllocsPerRun(20, func() {
			if err := s.Run(c.in, outs, scratch); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Run allocates %v times", c.name, allocs)
		}
	}
}

func BenchmarkElementwise(b *testing.B) {
	for _, c := range ewCases() {
		b.Run(c.name, func(b *testing.B) {
			s, out := prepare(b, c.n, c.opset, c.dt, c.shape, c.in...)
			outs := []*tensor.Tensor{out}
			scratch := tensor.AlignedBytes(s.Scratch)
			b.SetBytes(int64(len(out.Raw)))
			for b.Loop() {
				_ = s.Run(c.in, outs, scratch)
			}
		})
	}
}
