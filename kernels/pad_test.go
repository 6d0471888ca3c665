package kernels

import (
	"fmt"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func TestPadModes(t *testing.T) {
	x := tensor.From([]int32{1, 2, 3}, 3)
	// Expected values from numpy.pad, which ONNX's reference follows.
	for _, c := range []struct {
		mode string
		want string
	}{
		{"reflect", "[1 2 3 2 1 2 3 2 1 2 3 2]"},
		{"edge", "[1 1 1 1 1 2 3 3 3 3 3 3]"},
		{"wrap", "[3 1 2 3 1 2 3 1 2 3 1 2]"},
		{"constant", "[9 9 9 9 1 2 3 9 9 9 9 9]"},
	} {
		out := shExec(t, "Pad", 13, map[string]*graph.Attr{"mode": graph.StringAttr(c.mode)}, 1,
			x, ints(4, 5), tensor.From([]int32{9}))[0]
		if got := fmt.Sprint(tensor.Data[int32](out)); got != c.want {
			t.Errorf("%s: %s, want %s", c.mode, got, c.want)
		}
	}
	out := shExec(t, "Pad", 13, map[string]*graph.Attr{"mode": graph.StringAttr("reflect")}, 1, tensor.From([]int32{7}, 1), ints(2, 2))[0]
	if got := fmt.Sprint(tensor.Data[int32](out)); got != "[7 7 7 7 7]" {
		t.Errorf("reflect of one element: %s", got)
	}
}

func TestPadVersions(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	// Pad-2: pads and value are attributes.
	out := shExec(t, "Pad", 2, map[string]*graph.Attr{"pads": graph.IntsAttr(1, 0, 0, -1), "value": graph.FloatAttr(-1)}, 1, x)[0]
	if got := fmt.Sprint(out.Shape, tensor.Data[float32](out)); got != "[3,2] [-1 -1 1 2 4 5]" {
		t.Errorf("Pad-2 with a crop: %s", got)
	}
	// Pad-13 without constant_value pads with zeros; int64 data.
	xi := tensor.From([]int64{1, 2}, 1, 2)
	out = shExec(t, "Pad", 13, nil, 1, xi, ints(0, 1, 1, 0))[0]
	if got := fmt.Sprint(out.Shape, tensor.Data[int64](out)); got != "[2,3] [0 1 2 0 0 0]" {
		t.Errorf("Pad-13 default constant: %s", got)
	}
	// Pad-18 with axes: pads apply only to axis -1.
	out = shExec(t, "Pad", 18, map[string]*graph.Attr{"mode": graph.StringAttr("edge")}, 1, x, ints(1, 2), nil, ints(-1))[0]
	if got := fmt.Sprint(out.Shape, tensor.Data[float32](out)); got != "[2,6] [1 1 2 3 3 3 4 4 5 6 6 6]" {
		t.Errorf("Pad-18 with axes: %s", got)
	}
	// Strings take the constant too.
	s := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2}, Strs: []string{"a", "b"}}
	cv := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{}, Strs: []string{"-"}}
	out = shExec(t, "Pad", 13, nil, 1, s, ints(1, 1), cv)[0]
	if got := fmt.Sprint(out.Strs); got != "[- a b -]" {
		t.Errorf("string pad: %s", got)
	}
	if _, err := shPrepare("Pad", 13, map[string]*graph.Attr{"mode": graph.StringAttr("edge")}, 1, nil, tensor.New(tensor.Float32, 0, 2), ints(1, 0, 0, 0)); err == nil {
		t.Error("edge padding of an empty axis was accepted")
	}
}
