package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// torchDir holds the models testdata/torch/export.py exports with
// torch.onnx.export (see its README).
const torchDir = "../testdata/torch"

// torchModel describes one exported model: its signature and the ops
// torch 1.13 emits for it at each opset.
type torchModel struct {
	name    string
	inputs  []string // name:type, e.g. "x:float32[batch,32]"
	outputs []string
	ops     map[int][]string // opset → op_types in node order
}

var (
	blockOps1314 = []string{"Gemm", "ReduceMean", "Sub", "Constant", "Pow", "ReduceMean", "Constant", "Add",
		"Sqrt", "Div", "Mul", "Add", "Constant", "Div", "Erf", "Constant", "Add", "Mul", "Constant", "Mul",
		"Gemm", "Softmax"}
	gruOps = []string{"Constant", "Transpose", "Shape", "Constant", "Gather", "Constant", "Unsqueeze",
		"Constant", "Constant", "Concat", "Expand", "GRU", "Constant", "Squeeze", "Transpose"}
	lstmOps = []string{"Constant", "Shape", "Constant", "Gather", "Constant", "Unsqueeze", "Constant",
		"Constant", "Concat", "Expand", "Shape", "Constant", "Gather", "Constant", "Unsqueeze", "Constant",
		"Constant", "Concat", "Expand", "LSTM", "Constant", "Squeeze"}
	mlpOps = []string{"Gemm", "Relu", "Gemm"}
)

var torchModels = []torchModel{
	{"mlp", []string{"x:float32[batch,32]"}, []string{"y:float32[batch,16]"},
		map[int][]string{13: mlpOps, 14: mlpOps, 17: mlpOps}},
	{"gru", []string{"x:float32[2,5,8]"}, []string{"output:float32[2,5,16]", "h_n:float32[1,2,16]"},
		map[int][]string{13: gruOps, 14: gruOps, 17: gruOps}},
	{"lstm", []string{"x:float32[5,2,8]"},
		[]string{"output:float32[5,2,16]", "h_n:float32[1,2,16]", "c_n:float32[1,2,16]"},
		map[int][]string{13: lstmOps, 14: lstmOps, 17: lstmOps}},
	{"block", []string{"x:float32[batch,16]"}, []string{"y:float32[batch,8]"},
		map[int][]string{13: blockOps1314, 14: blockOps1314, 17: {"Gemm", "LayerNormalization", "Constant",
			"Div", "Erf", "Constant", "Add", "Mul", "Constant", "Mul", "Gemm", "Softmax"}}},
}

var torchOpsets = []int{13, 14, 17}

func signature(vs []*graph.Value) []string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%s:%v", v.Name, v.Type)
	}
	return s
}

// TestTorchModelsImport decodes each exported model and checks its opset,
// signature, op list and weights, and that the reference .npy files match
// the signature.
func TestTorchModelsImport(t *testing.T) {
	for _, m := range torchModels {
		for _, opset := range torchOpsets {
			base := fmt.Sprintf("%s_op%d", m.name, opset)
			t.Run(base, func(t *testing.T) {
				data, err := os.ReadFile(filepath.Join(torchDir, base+".onnx"))
				if err != nil {
					t.Fatal(err)
				}
				g, err := decodeModel(data)
				if err != nil {
					t.Fatal(err)
				}
				if g.Opset != opset {
					t.Errorf("opset %d, want %d", g.Opset, opset)
				}
				if got := signature(g.Inputs); !slices.Equal(got, m.inputs) {
					t.Errorf("inputs %v, want %v", got, m.inputs)
				}
				if got := signature(g.Outputs); !slices.Equal(got, m.outputs) {
					t.Errorf("outputs %v, want %v", got, m.outputs)
				}
				var ops []string
				for _, n := range g.Nodes {
					ops = append(ops, n.Op)
				}
				if !slices.Equal(ops, m.ops[opset]) {
					t.Errorf("ops %v,\nwant %v", ops, m.ops[opset])
				}
				for _, w := range g.Initializers {
					if w.Const.DType != tensor.Float32 || w.Const.Len() == 0 || allZero(w.Const) {
						t.Errorf("initializer %s = %v is empty or zero", w.Name, w.Const)
					}
				}
				if err := CheckOps(g); err != nil {
					t.Logf("not yet runnable: %v", err)
				}
				checkReferenceFiles(t, filepath.Join(torchDir, base), g)
			})
		}
	}
}

// checkReferenceFiles reads <dir>/<value>.npy for every graph input and
// output and checks each against the value's declared type, with every
// symbolic dimension bound to the same size throughout.
func checkReferenceFiles(t *testing.T, dir string, g *graph.Graph) {
	t.Helper()
	bound := map[string]int{}
	for _, v := range slices.Concat(g.Inputs, g.Outputs) {
		arr, err := tensor.ReadNPYFile(filepath.Join(dir, v.Name+".npy"))
		if err != nil {
			t.Error(err)
			continue
		}
		if !fitsType(arr, v.Type) {
			t.Errorf("%s.npy is %v, declared %v", v.Name, arr, v.Type)
			continue
		}
		for i, d := range v.Type.Shape {
			if d.Sym == "" {
				continue
			}
			if n, ok := bound[d.Sym]; ok && n != arr.Shape[i] {
				t.Errorf("%s.npy binds %s to %d, an earlier file to %d", v.Name, d.Sym, arr.Shape[i], n)
			}
			bound[d.Sym] = arr.Shape[i]
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.npy"))
	if want := len(g.Inputs) + len(g.Outputs); len(files) != want {
		t.Errorf("%s has %d .npy files, want %d (one per input and output)", dir, len(files), want)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".npy"); !slices.ContainsFunc(slices.Concat(g.Inputs, g.Outputs),
			func(v *graph.Value) bool { return v.Name == name }) {
			t.Errorf("%s names no input or output", f)
		}
	}
}

func allZero(t *tensor.Tensor) bool {
	for _, b := range t.Raw {
		if b != 0 {
			return false
		}
	}
	return true
}
