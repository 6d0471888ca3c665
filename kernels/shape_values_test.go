package kernels

import (
	"fmt"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func TestShapeAndSize(t *testing.T) {
	x := tensor.New(tensor.Float32, 3, 4, 5)
	for _, c := range []struct {
		opset      int
		start, end any
		want       string
	}{
		{13, 1, nil, "[3 4 5]"}, // start ignored before opset 15
		{15, nil, nil, "[3 4 5]"},
		{15, 1, nil, "[4 5]"},
		{15, nil, -1, "[3 4]"},
		{15, 1, 2, "[4]"},
		{15, -10, 10, "[3 4 5]"},
		{15, 2, 1, "[]"},
	} {
		attrs := map[string]*graph.Attr{}
		if c.start != nil {
			attrs["start"] = graph.IntAttr(int64(c.start.(int)))
		}
		if c.end != nil {
			attrs["end"] = graph.IntAttr(int64(c.end.(int)))
		}
		out := shExec(t, "Shape", c.opset, attrs, 1, x)[0]
		if got := fmt.Sprint(tensor.Data[int64](out)); got != c.want && !(c.want == "[]" && out.Len() == 0) {
			t.Errorf("Shape-%d start %v end %v = %s, want %s", c.opset, c.start, c.end, got, c.want)
		}
	}
	out := shExec(t, "Size", 13, nil, 1, &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2, 3}, Strs: make([]string, 6)})[0]
	if got := tensor.Data[int64](out); out.Rank() != 0 || got[0] != 6 {
		t.Errorf("Size = %v %v", out.Shape, got)
	}
}

func TestConstant(t *testing.T) {
	strs := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2}, Strs: []string{"a", "b"}}
	for _, c := range []struct {
		attr string
		val  *graph.Attr
		want string
	}{
		{"value", graph.TensorAttr(tensor.From([]float32{1, 2, 3, 4}, 2, 2)), "float32[2,2] [1 2 3 4]"},
		{"value", graph.TensorAttr(strs), "string[2] [a b]"},
		{"value_float", graph.FloatAttr(2.5), "float32[] [2.5]"},
		{"value_floats", graph.FloatsAttr(1, 2), "float32[2] [1 2]"},
		{"value_int", graph.IntAttr(-7), "int64[] [-7]"},
		{"value_ints", graph.IntsAttr(4, 5, 6), "int64[3] [4 5 6]"},
		{"value_string", graph.StringAttr("x"), "string[] [x]"},
		{"value_strings", &graph.Attr{Kind: graph.AttrStrings, Strings: []string{"p", "q"}}, "string[2] [p q]"},
	} {
		out := shExec(t, "Constant", 13, map[string]*graph.Attr{c.attr: c.val}, 1)[0]
		got := out.String() + " "
		switch out.DType {
		case tensor.String:
			got += fmt.Sprint(out.Strs)
		case tensor.Float32:
			got += fmt.Sprint(tensor.Data[float32](out))
		case tensor.Int64:
			got += fmt.Sprint(tensor.Data[int64](out))
		}
		if got != c.want {
			t.Errorf("Constant %s: %s, want %s", c.attr, got, c.want)
		}
	}
	if _, err := New(&graph.Node{Op: "Constant"}, 13); err == nil {
		t.Error("Constant without a value was accepted")
	}
}

func TestConstantOfShape(t *testing.T) {
	out := shExec(t, "ConstantOfShape", 9, nil, 1, ints(2, 3))[0]
	if got := fmt.Sprint(out.Shape, tensor.Data[float32](out)); got != "[2,3] [0 0 0 0 0 0]" {
		t.Errorf("default value: %s", got)
	}
	v := graph.TensorAttr(tensor.From([]int32{-5}, 1))
	out = shExec(t, "ConstantOfShape", 9, map[string]*graph.Attr{"value": v}, 1, ints(5))[0]
	if got := fmt.Sprint(out.Shape, tensor.Data[int32](out)); got != "[5] [-5 -5 -5 -5 -5]" {
		t.Errorf("int32 value: %s", got)
	}
	out = shExec(t, "ConstantOfShape", 9, map[string]*graph.Attr{"value": v}, 1, ints(0))[0]
	if out.Len() != 0 {
		t.Errorf("shape [0] gave %v", out.Shape)
	}
	out = shExec(t, "ConstantOfShape", 9, map[string]*graph.Attr{"value": graph.TensorAttr(tensor.From([]bool{true}, 1))}, 1, tensor.From([]int64{}, 0))[0]
	if out.Rank() != 0 || out.Raw[0] != 1 {
		t.Errorf("scalar bool: %v %v", out.Shape, out.Raw)
	}
}

func TestRange(t *testing.T) {
	out := shExec(t, "Range", 11, nil, 1, tensor.Scalar(float32(1)), tensor.Scalar(float32(5)), tensor.Scalar(float32(1.5)))[0]
	if got := fmt.Sprint(tensor.Data[float32](out)); got != "[1 2.5 4]" {
		t.Errorf("float range: %s", got)
	}
	out = shExec(t, "Range", 11, nil, 1, tensor.Scalar(int32(10)), tensor.Scalar(int32(4)), tensor.Scalar(int32(-3)))[0]
	if got := fmt.Sprint(tensor.Data[int32](out)); got != "[10 7]" {
		t.Errorf("int32 range: %s", got)
	}
	out = shExec(t, "Range", 11, nil, 1, tensor.Scalar(int64(3)), tensor.Scalar(int64(3)), tensor.Scalar(int64(1)))[0]
	if out.Len() != 0 {
		t.Errorf("empty range: %v", out.Shape)
	}
	out = shExec(t, "Range", 11, nil, 1, tensor.Scalar(int16(-2)), tensor.Scalar(int16(3)), tensor.Scalar(int16(2)))[0]
	if got := fmt.Sprint(tensor.Data[int16](out)); got != "[-2 0 2]" {
		t.Errorf("int16 range: %s", got)
	}
	if _, err := shPrepare("Range", 11, nil, 1, nil, tensor.Scalar(int64(0)), tensor.Scalar(int64(3)), tensor.Scalar(int64(0))); err == nil {
		t.Error("delta 0 was accepted")
	}
}
