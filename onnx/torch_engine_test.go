package onnx_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// torchTol is the largest difference allowed between Sextant's and PyTorch's
// outputs: absolute for values up to 1 in magnitude, relative above.
const torchTol = 1e-5

// TestTorchModelsRun runs every model testdata/torch/export.py exported
// through the engine on the inputs it saved, compares the outputs with
// PyTorch's, and checks that a warmed-up session runs without allocating.
func TestTorchModelsRun(t *testing.T) {
	for _, name := range []string{"mlp", "gru", "lstm", "block"} {
		for _, opset := range []int{13, 14, 17} {
			base := fmt.Sprintf("%s_op%d", name, opset)
			t.Run(base, func(t *testing.T) {
				dir := filepath.Join("..", "testdata", "torch")
				g, err := onnx.ReadFile(filepath.Join(dir, base+".onnx"))
				if err != nil {
					t.Fatal(err)
				}
				m, err := engine.Compile(g, engine.Options{})
				if err != nil {
					t.Fatal(err)
				}
				inputs := make([]*tensor.Tensor, len(m.InputNames()))
				for i, in := range m.InputNames() {
					if inputs[i], err = tensor.ReadNPYFile(filepath.Join(dir, base, in+".npy")); err != nil {
						t.Fatal(err)
					}
				}
				wants := make([]*tensor.Tensor, len(m.OutputNames()))
				for i, out := range m.OutputNames() {
					if wants[i], err = tensor.ReadNPYFile(filepath.Join(dir, base, out+".npy")); err != nil {
						t.Fatal(err)
					}
				}
				s := m.NewSession()
				ctx := context.Background()
				got, err := s.Run(ctx, inputs)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range wants {
					compare(t, m.OutputNames()[i], got[i], want)
				}

				allocs := testing.AllocsPerRun(20, func() {
					if _, err := s.Run(ctx, inputs); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("warmed-up Run made %v allocations, want 0", allocs)
				}
				// The outputs of a later run are still PyTorch's.
				got, err = s.Run(ctx, inputs)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range wants {
					compare(t, m.OutputNames()[i]+" (after warm-up)", got[i], want)
				}
			})
		}
	}
}

// TestTorchModelsRunOtherBatch feeds the models exported with a symbolic
// batch dimension one row of their reference input: the engine must plan
// for the new shape, and each output row depends only on its input row.
func TestTorchModelsRunOtherBatch(t *testing.T) {
	for _, name := range []string{"mlp", "block"} {
		base := name + "_op17"
		t.Run(base, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", "torch")
			g, err := onnx.ReadFile(filepath.Join(dir, base+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := engine.Compile(g, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			x, err := tensor.ReadNPYFile(filepath.Join(dir, base, "x.npy"))
			if err != nil {
				t.Fatal(err)
			}
			y, err := tensor.ReadNPYFile(filepath.Join(dir, base, "y.npy"))
			if err != nil {
				t.Fatal(err)
			}
			s := m.NewSession()
			for _, rows := range []int{2, 1, 2} {
				got, err := s.Run(context.Background(), []*tensor.Tensor{firstRows(x, rows)})
				if err != nil {
					t.Fatalf("batch %d: %v", rows, err)
				}
				compare(t, fmt.Sprintf("y (batch %d)", rows), got[0], firstRows(y, rows))
			}
		})
	}
}

// firstRows returns the first n rows of a float32 matrix.
func firstRows(t *tensor.Tensor, n int) *tensor.Tensor {
	cols := t.Shape[1]
	return tensor.From(tensor.Data[float32](t)[:n*cols], n, cols)
}

func compare(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if got.DType != want.DType || !got.Shape.Equal(want.Shape) {
		t.Errorf("%s: got %v, want %v", name, got, want)
		return
	}
	worst, at := 0.0, 0
	for i := range want.Len() {
		g, w := got.Float64At(i), want.Float64At(i)
		d := math.Abs(g-w) / math.Max(1, math.Abs(w))
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > torchTol || math.IsNaN(worst) {
		t.Errorf("%s: element %d is %v, PyTorch computed %v (error %.3g > %g)",
			name, at, got.Float64At(at), want.Float64At(at), worst, torchTol)
	}
}
