package kernels

import (
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/parallel"
	"github.com/sextant-ml/sextant/tensor"
)

// TestNewWithPool checks that NewWith hands a multi-thread pool to the
// kernels that split products (and to their packed weights), and nothing
// to them for one thread. The engine's tests check the threaded results.
func TestNewWithPool(t *testing.T) {
	w := &graph.Value{Name: "w", Const: tensor.New(tensor.Float32, 8, 8), Type: graph.ShapeOf(tensor.Float32, tensor.Shape{8, 8})}
	x := &graph.Value{Name: "x"}
	w4 := &graph.Value{Name: "w4", Const: tensor.New(tensor.Float32, 4, 2, 3, 3), Type: graph.ShapeOf(tensor.Float32, tensor.Shape{4, 2, 3, 3})}
	nodes := []*graph.Node{
		{Op: "MatMul", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{{Name: "y"}}},
		{Op: "Gemm", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{{Name: "y"}}},
		{Op: "Conv", Inputs: []*graph.Value{x, w4}, Outputs: []*graph.Value{{Name: "y"}}},
	}
	two := parallel.New(2)
	defer two.Close()
	for _, pool := range []*parallel.Pool{nil, parallel.New(1), two} {
		want := pool
		if pool.Threads() == 1 {
			want = nil
		}
		for _, n := range nodes {
			k, err := NewWith(n, 17, Config{Pool: pool})
			if err != nil {
				t.Fatalf("%s: %v", n.Op, err)
			}
			var got *parallel.Pool
			switch k := k.(type) {
			case *matMulKernel:
				got = k.pool
				if k.packed.Kernels().Pool() != want {
					t.Errorf("%s: packed weights split on %v, want %v", n.Op, k.packed.Kernels().Pool(), want)
				}
			case *gemmKernel:
				got = k.pool
				if k.packed.Kernels().Pool() != want {
					t.Errorf("%s: packed weights split on %v, want %v", n.Op, k.packed.Kernels().Pool(), want)
				}
			case *convKernel:
				got = k.pool
			default:
				t.Fatalf("%s: kernel %T", n.Op, k)
			}
			if got != want {
				t.Errorf("%s with a %d-thread pool: kernel pool %p, want %p", n.Op, pool.Threads(), got, want)
			}
		}
	}
	if _, err := NewWith(&graph.Node{Op: "Relu", Inputs: []*graph.Value{x}, Outputs: []*graph.Value{{Name: "y"}}}, 17, Config{Pool: two}); err != nil {
		t.Fatalf("Relu: %v", err)
	}
}
