package graph_test

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// TestOptimizeTorchExports imports the PyTorch exports in testdata/torch
// (see export.py there), optimizes them, and checks the op lists that
// remain; where the reference evaluator covers every op it also checks that
// the optimized graph computes what the original did and what PyTorch did.
func TestOptimizeTorchExports(t *testing.T) {
	cases := []struct {
		model   string
		want    []string
		outputs []string // PyTorch's outputs to compare with, when the reference evaluator runs the model
	}{
		{"mlp", []string{"FusedGemm", "Gemm"}, []string{"y"}},
		{"block", []string{"Gemm", "LayerNormalization", "Gelu", "Gemm", "Softmax"}, []string{"y"}},
		// Fixed shapes: the Shape→Gather→Unsqueeze→Concat→Expand chain that
		// builds the initial state folds away.
		{"gru", []string{"Transpose", "GRU", "Squeeze", "Transpose"}, nil},
		{"lstm", []string{"LSTM", "Squeeze"}, nil},
	}
	for _, c := range cases {
		for _, opset := range []int{13, 14, 17} {
			name := filepath.Join("..", "testdata", "torch", c.model+"_op"+strconv.Itoa(opset))
			t.Run(filepath.Base(name), func(t *testing.T) {
				g, err := onnx.ReadFile(name + ".onnx")
				if err != nil {
					t.Fatal(err)
				}
				x, err := tensor.ReadNPYFile(filepath.Join(name, "x.npy"))
				if err != nil {
					t.Fatal(err)
				}
				in := map[string]*tensor.Tensor{"x": x}
				var before []*tensor.Tensor
				if c.outputs != nil {
					before = graph.Run(t, g, in)
				}
				st, err := graph.Optimize(g, graph.RefEval, graph.OptimizeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %v", filepath.Base(name), st)
				if got := graph.OpList(g); !slices.Equal(got, c.want) {
					t.Fatalf("ops %v,\nwant %v", got, c.want)
				}
				if err := graph.Validate(g); err != nil {
					t.Fatalf("optimized graph does not validate: %v", err)
				}
				if c.outputs == nil {
					return
				}
				after := graph.Run(t, g, in)
				for i, o := range c.outputs {
					want, err := tensor.ReadNPYFile(filepath.Join(name, o+".npy"))
					if err != nil {
						t.Fatal(err)
					}
					graph.AssertClose(t, after[i], before[i], 1e-5)
					graph.AssertClose(t, after[i], want, 1e-4)
				}
			})
		}
	}
}
