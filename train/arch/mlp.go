package arch

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// MLP is a multi-layer perceptron on one vector input column: Gemm layers
// of the Hidden widths (default 64) with Relu between them, then a Gemm to
// Outputs logits. Its parameters are fc1.weight, fc1.bias, … (torch's
// nn.Linear layout, [out, in]); the last layer is "head".
func MLP(spec Spec) (*Model, error) {
	in, col, err := inputColumn(spec)
	if err != nil {
		return nil, err
	}
	if len(col.Shape) > 1 {
		return nil, fmt.Errorf("arch mlp: input %q has examples shaped %v; want a vector", in, col.Shape)
	}
	if spec.Outputs <= 0 {
		return nil, fmt.Errorf("arch mlp: %d outputs", spec.Outputs)
	}
	width := 1
	if len(col.Shape) == 1 {
		width = col.Shape[0]
	}
	hidden := spec.Hidden
	if len(hidden) == 0 {
		hidden = []int{64}
	}
	b := graph.NewBuilder("mlp", 17)
	b.Input(in, tensor.Float32, "batch", width)
	h := in
	dims := append(append([]int{width}, hidden...), spec.Outputs)
	for i := 0; i+1 < len(dims); i++ {
		if dims[i+1] <= 0 {
			return nil, fmt.Errorf("arch mlp: hidden width %d", dims[i+1])
		}
		name := fmt.Sprintf("fc%d", i+1)
		if i+2 == len(dims) {
			name = "head"
		}
		w, bias := linearInit(spec.Rand, dims[i+1], dims[i])
		b.Initializer(name+".weight", w)
		b.Initializer(name+".bias", bias)
		out := name
		if i+2 == len(dims) {
			out = "logits"
		}
		b.Node("Gemm", []string{h, name + ".weight", name + ".bias"}, []string{out}, map[string]*graph.Attr{"transB": graph.IntAttr(1)})
		h = out
		if i+2 < len(dims) {
			h = b.Op("Relu", nil, h)
		}
	}
	b.Output("logits")
	return &Model{Graph: b.Graph(), Output: "logits"}, nil
}
