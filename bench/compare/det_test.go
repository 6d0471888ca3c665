package main

import (
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// detModel is a one-node model (Det of a 4×4 matrix, unsqueezed to [1])
// that ONNX Runtime runs and Sextant, so far, does not.
func detModel() ([]byte, error) {
	b := graph.NewBuilder("det", 17)
	b.Input("x", tensor.Float32, 4, 4)
	b.Node("Det", []string{"x"}, []string{"d"}, nil)
	b.Node("Unsqueeze", []string{"d", b.Constant(tensor.From([]int64{0}, 1))}, []string{"y"}, nil)
	b.Output("y")
	return onnx.Encode(b.Graph())
}
