package graph

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// shT is an operand of known type and unknown value.
func shT(dt tensor.DType, dims ...any) Operand {
	return Operand{Present: true, Type: Type{DType: dt, Shape: Dims(dims...), Known: true}}
}

// shC is an operand whose value is known.
func shC(t *tensor.Tensor) Operand {
	return Operand{Present: true, Type: ShapeOf(t.DType, t.Shape), Const: t}
}

func shI64(v ...int64) Operand { return shC(tensor.From(v, len(v))) }

type shCase struct {
	name  string
	op    string
	opset int
	attrs map[string]*Attr
	in    []Operand
	outs  int    // number of outputs (default 1)
	want  string // output types joined by " ", or the start of an error after "error: "
}

func (c shCase) run(t *testing.T) {
	t.Helper()
	n := &Node{Op: c.op, Attrs: c.attrs}
	for range max(c.outs, 1) {
		n.Outputs = append(n.Outputs, &Value{})
	}
	got, err := InferNode(n, c.opset, c.in)
	if strings.HasPrefix(c.want, "error: ") {
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
			t.Errorf("%s: got %v, %v; want %s", c.name, got, err, c.want)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", c.name, err)
		return
	}
	parts := make([]string, len(got))
	for i, g := range got {
		parts[i] = g.String()
	}
	if s := strings.Join(parts, " "); s != c.want {
		t.Errorf("%s: got %s, want %s", c.name, s, c.want)
	}
}

func TestInferReshapeFamily(t *testing.T) {
	f := tensor.Float32
	for _, c := range []shCase{
		{name: "copy symbolic and infer -1", op: "Reshape", opset: 13, in: []Operand{shT(f, "batch", 3, 4), shI64(0, -1)}, want: "float32[batch,12]"},
		{name: "-1 with two symbols left", op: "Reshape", opset: 13, in: []Operand{shT(f, "batch", "seq", 4), shI64(-1, 4)}, want: "float32[?,4]"},
		{name: "symbols carried", op: "Reshape", opset: 13, in: []Operand{shT(f, "batch", 6, "seq"), shI64(0, 2, 0, -1)}, want: "float32[batch,2,seq,3]"},
		{name: "unknown input dim", op: "Reshape", opset: 13, in: []Operand{shT(f, nil, 6), shI64(2, -1)}, want: "float32[2,?]"},
		{name: "fixed", op: "Reshape", opset: 13, in: []Operand{shT(f, 2, 3, 4), shI64(4, -1)}, want: "float32[4,6]"},
		{name: "bad count", op: "Reshape", opset: 13, in: []Operand{shT(f, 2, 3, 4), shI64(5, -1)}, want: "error: cannot reshape"},
		{name: "two -1", op: "Reshape", opset: 13, in: []Operand{shT(f, 2, 3, 4), shI64(-1, -1)}, want: "error: more than one -1"},
		{name: "allowzero at 14", op: "Reshape", opset: 14, attrs: map[string]*Attr{"allowzero": IntAttr(1)}, in: []Operand{shT(f, 0, 3, 4), shI64(3, 4, 0)}, want: "float32[3,4,0]"},
		{name: "allowzero ignored at 13", op: "Reshape", opset: 13, attrs: map[string]*Attr{"allowzero": IntAttr(1)}, in: []Operand{shT(f, 0, 3, 4), shI64(3, 4, 0)}, want: "error: cannot reshape"},
		{name: "zero copies at 14", op: "Reshape", opset: 14, in: []Operand{shT(f, 2, 3, 4), shI64(0, 0, -1)}, want: "float32[2,3,4]"},
		{name: "allowzero with -1", op: "Reshape", opset: 14, attrs: map[string]*Attr{"allowzero": IntAttr(1)}, in: []Operand{shT(f, 0, 3), shI64(0, -1)}, want: "error: both 0 and -1"},
		{name: "shape unknown", op: "Reshape", opset: 13, in: []Operand{shT(f, "batch", 3, 4), shT(tensor.Int64, 3)}, want: "float32[?,?,?]"},
		{name: "shape attribute before 5", op: "Reshape", opset: 4, attrs: map[string]*Attr{"shape": IntsAttr(0, -1)}, in: []Operand{shT(f, "b", 3, 4)}, want: "float32[b,12]"},
		{name: "flatten", op: "Flatten", opset: 13, in: []Operand{shT(f, "batch", 3, 4)}, want: "float32[batch,12]"},
		{name: "flatten 0", op: "Flatten", opset: 13, attrs: map[string]*Attr{"axis": IntAttr(0)}, in: []Operand{shT(f, 2, 3)}, want: "float32[1,6]"},
		{name: "flatten -1", op: "Flatten", opset: 13, attrs: map[string]*Attr{"axis": IntAttr(-1)}, in: []Operand{shT(f, "b", 3, 4)}, want: "float32[?,4]"},
		{name: "flatten -1 before 11", op: "Flatten", opset: 9, attrs: map[string]*Attr{"axis": IntAttr(-1)}, in: []Operand{shT(f, 2, 3)}, want: "error: out of range"},
		{name: "flatten rank", op: "Flatten", opset: 13, attrs: map[string]*Attr{"axis": IntAttr(3)}, in: []Operand{shT(f, 2, 3, 4)}, want: "float32[24,1]"},
		{name: "identity", op: "Identity", opset: 16, in: []Operand{shT(tensor.String, "n")}, want: "string[n]"},
	} {
		c.run(t)
	}
}

func TestInferAxesOps(t *testing.T) {
	f := tensor.Float32
	axes := func(v ...int64) map[string]*Attr { return map[string]*Attr{"axes": IntsAttr(v...)} }
	for _, c := range []shCase{
		{name: "squeeze attr at 11", op: "Squeeze", opset: 11, attrs: axes(0), in: []Operand{shT(f, 1, "b", 3)}, want: "float32[b,3]"},
		{name: "squeeze input at 13", op: "Squeeze", opset: 13, in: []Operand{shT(f, 1, "b", 3), shI64(-3)}, want: "float32[b,3]"},
		{name: "squeeze attr ignored at 13", op: "Squeeze", opset: 13, attrs: axes(0), in: []Operand{shT(f, 1, 3, 1)}, want: "float32[3]"},
		{name: "squeeze negative before 11", op: "Squeeze", opset: 1, attrs: axes(-1), in: []Operand{shT(f, 3, 1)}, want: "error: negative axis"},
		{name: "squeeze unknown axes", op: "Squeeze", opset: 13, in: []Operand{shT(f, 1, "b", 1), shT(tensor.Int64, 2)}, want: "float32[?]"},
		{name: "squeeze non-1", op: "Squeeze", opset: 13, in: []Operand{shT(f, 2, 3), shI64(0)}, want: "error: cannot squeeze"},
		{name: "squeeze all 1s", op: "Squeeze", opset: 13, in: []Operand{shT(f, 1, 3, 1)}, want: "float32[3]"},
		{name: "squeeze symbolic maybe 1", op: "Squeeze", opset: 13, in: []Operand{shT(f, "b", 1)}, want: "float32[?]"},
		{name: "squeeze to scalar", op: "Squeeze", opset: 13, in: []Operand{shT(f, 1), shI64(0)}, want: "float32[]"},
		{name: "unsqueeze attr at 11", op: "Unsqueeze", opset: 11, attrs: axes(0, 3), in: []Operand{shT(f, "b", 3)}, want: "float32[1,b,3,1]"},
		{name: "unsqueeze input unsorted", op: "Unsqueeze", opset: 13, in: []Operand{shT(f, 3, 4, 5), shI64(5, 4, 2)}, want: "float32[3,4,1,5,1,1]"},
		{name: "unsqueeze negative", op: "Unsqueeze", opset: 13, in: []Operand{shT(f, "b", 3), shI64(-1)}, want: "float32[b,3,1]"},
		{name: "unsqueeze repeated", op: "Unsqueeze", opset: 13, in: []Operand{shT(f, 3), shI64(0, 0)}, want: "error: repeated"},
		{name: "unsqueeze missing axes at 13", op: "Unsqueeze", opset: 13, attrs: axes(0), in: []Operand{shT(f, 3)}, want: "error: missing axes"},
		{name: "unsqueeze unknown axes", op: "Unsqueeze", opset: 13, in: []Operand{shT(f, 3), shT(tensor.Int64, 2)}, want: "float32[?,?,?]"},
		{name: "transpose default", op: "Transpose", opset: 13, in: []Operand{shT(f, "a", 2, "c")}, want: "float32[c,2,a]"},
		{name: "transpose perm", op: "Transpose", opset: 13, attrs: map[string]*Attr{"perm": IntsAttr(1, 0, 2)}, in: []Operand{shT(f, "b", "t", 8)}, want: "float32[t,b,8]"},
		{name: "transpose bad perm", op: "Transpose", opset: 13, attrs: map[string]*Attr{"perm": IntsAttr(0, 0)}, in: []Operand{shT(f, 2, 3)}, want: "error: not a permutation"},
		{name: "expand", op: "Expand", opset: 13, in: []Operand{shT(f, "b", 1), shI64(1, 3)}, want: "float32[b,3]"},
		{name: "expand rank", op: "Expand", opset: 13, in: []Operand{shT(f, 3, 1), shI64(2, 1, 6)}, want: "float32[2,3,6]"},
		{name: "expand unknown", op: "Expand", opset: 13, in: []Operand{shT(f, 3, 1), shT(tensor.Int64, 3)}, want: "float32[?,3,?]"},
		{name: "expand mismatch", op: "Expand", opset: 13, in: []Operand{shT(f, 3), shI64(4)}, want: "error: broadcast"},
		{name: "tile", op: "Tile", opset: 13, in: []Operand{shT(f, "b", 3, "c"), shI64(1, 2, 3)}, want: "float32[b,6,?]"},
		{name: "tile length", op: "Tile", opset: 13, in: []Operand{shT(f, 3), shI64(1, 2)}, want: "error: 2 repeats"},
		{name: "pad", op: "Pad", opset: 13, in: []Operand{shT(f, "b", 3), shI64(0, 1, 0, -2)}, want: "float32[b,2]"},
		{name: "pad symbolic padded", op: "Pad", opset: 13, in: []Operand{shT(f, "b", 3), shI64(1, 0, 0, 0)}, want: "float32[?,3]"},
		{name: "pad attr at 2", op: "Pad", opset: 2, attrs: map[string]*Attr{"pads": IntsAttr(1, 1)}, in: []Operand{shT(f, 3)}, want: "float32[5]"},
		{name: "pad axes at 18", op: "Pad", opset: 18, in: []Operand{shT(f, 2, 3), shI64(1, 1), {}, shI64(-1)}, want: "float32[2,5]"},
		{name: "pad unknown", op: "Pad", opset: 13, in: []Operand{shT(f, 2, 3), shT(tensor.Int64, 4)}, want: "float32[?,?]"},
		{name: "pad mode", op: "Pad", opset: 13, attrs: map[string]*Attr{"mode": StringAttr("mirror")}, in: []Operand{shT(f, 2), shI64(1, 1)}, want: "error: unknown mode"},
		{name: "pad crop too far", op: "Pad", opset: 13, in: []Operand{shT(f, 2), shI64(-1, -2)}, want: "error: below 0"},
		{name: "tile-1", op: "Tile", opset: 1, in: []Operand{shT(f, 2, 3), shC(tensor.Scalar(int64(3))), shC(tensor.Scalar(int64(-1)))}, want: "float32[2,9]"},
	} {
		c.run(t)
	}
}

func TestInferShapeAndConstants(t *testing.T) {
	f := tensor.Float32
	se := func(s, e int64) map[string]*Attr {
		return map[string]*Attr{"start": IntAttr(s), "end": IntAttr(e)}
	}
	strs := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2}, Strs: []string{"a", "b"}}
	for _, c := range []shCase{
		{name: "shape", op: "Shape", opset: 13, in: []Operand{shT(f, "b", 3, 4)}, want: "int64[3]"},
		{name: "shape start/end ignored at 13", op: "Shape", opset: 13, attrs: se(1, -1), in: []Operand{shT(f, "b", 3, 4)}, want: "int64[3]"},
		{name: "shape start/end at 15", op: "Shape", opset: 15, attrs: se(1, -1), in: []Operand{shT(f, "b", 3, 4)}, want: "int64[1]"},
		{name: "shape clipped", op: "Shape", opset: 15, attrs: se(-10, 10), in: []Operand{shT(f, "b", 3, 4)}, want: "int64[3]"},
		{name: "shape empty", op: "Shape", opset: 15, attrs: se(2, 1), in: []Operand{shT(f, "b", 3, 4)}, want: "int64[0]"},
		{name: "shape unknown rank", op: "Shape", opset: 15, in: []Operand{{Present: true, Type: Type{DType: f}}}, want: "int64[?]"},
		{name: "size", op: "Size", opset: 13, in: []Operand{shT(f, "b", 3)}, want: "int64[]"},
		{name: "constant ints", op: "Constant", opset: 13, attrs: map[string]*Attr{"value_ints": IntsAttr(1, 2, 3)}, want: "int64[3]"},
		{name: "constant float", op: "Constant", opset: 13, attrs: map[string]*Attr{"value_float": FloatAttr(1)}, want: "float32[]"},
		{name: "constant strings", op: "Constant", opset: 13, attrs: map[string]*Attr{"value": TensorAttr(strs)}, want: "string[2]"},
		{name: "constant string", op: "Constant", opset: 13, attrs: map[string]*Attr{"value_string": StringAttr("x")}, want: "string[]"},
		{name: "constant two values", op: "Constant", opset: 13, attrs: map[string]*Attr{"value_int": IntAttr(1), "value_float": FloatAttr(1)}, want: "error: exactly one"},
		{name: "constantofshape", op: "ConstantOfShape", opset: 9, attrs: map[string]*Attr{"value": TensorAttr(tensor.From([]int32{7}, 1))}, in: []Operand{shI64(2, 3)}, want: "int32[2,3]"},
		{name: "constantofshape default", op: "ConstantOfShape", opset: 9, in: []Operand{shT(tensor.Int64, 3)}, want: "float32[?,?,?]"},
		{name: "constantofshape scalar", op: "ConstantOfShape", opset: 9, in: []Operand{shC(tensor.From([]int64{}, 0))}, want: "float32[]"},
		{name: "range float", op: "Range", opset: 11, in: []Operand{shC(tensor.Scalar(float32(1))), shC(tensor.Scalar(float32(5))), shC(tensor.Scalar(float32(1.5)))}, want: "float32[3]"},
		{name: "range int negative", op: "Range", opset: 11, in: []Operand{shC(tensor.Scalar(int32(10))), shC(tensor.Scalar(int32(4))), shC(tensor.Scalar(int32(-3)))}, want: "int32[2]"},
		{name: "range empty", op: "Range", opset: 11, in: []Operand{shC(tensor.Scalar(int64(10))), shC(tensor.Scalar(int64(4))), shC(tensor.Scalar(int64(3)))}, want: "int64[0]"},
		{name: "range unknown", op: "Range", opset: 11, in: []Operand{shT(tensor.Int64), shT(tensor.Int64), shT(tensor.Int64)}, want: "int64[?]"},
		{name: "range types differ", op: "Range", opset: 11, in: []Operand{shT(tensor.Int64), shT(tensor.Int32), shT(tensor.Int64)}, want: "error: input 1 is int32"},
	} {
		c.run(t)
	}
}

func TestInferIndexOps(t *testing.T) {
	f := tensor.Float32
	axis := func(a int64) map[string]*Attr { return map[string]*Attr{"axis": IntAttr(a)} }
	const big = math.MaxInt64
	for _, c := range []shCase{
		{name: "gather scalar index", op: "Gather", opset: 13, attrs: axis(1), in: []Operand{shT(f, "b", "t", 16), shC(tensor.Scalar(int64(-1)))}, want: "float32[b,16]"},
		{name: "gather 2d", op: "Gather", opset: 13, in: []Operand{shT(tensor.String, 10, 4), shT(tensor.Int32, 2, "k")}, want: "string[2,k,4]"},
		{name: "gather float indices", op: "Gather", opset: 13, in: []Operand{shT(f, 10), shT(f, 2)}, want: "error: int32 or int64"},
		{name: "gather axis", op: "Gather", opset: 13, attrs: axis(2), in: []Operand{shT(f, 10, 4), shT(tensor.Int64, 2)}, want: "error: out of range"},
		{name: "gather elements", op: "GatherElements", opset: 13, attrs: axis(1), in: []Operand{shT(f, 3, 3), shT(tensor.Int64, 2, 3)}, want: "float32[2,3]"},
		{name: "gathernd", op: "GatherND", opset: 13, in: []Operand{shT(f, 2, 2, 2), shT(tensor.Int64, 2, 1, 2)}, want: "float32[2,1,2]"},
		{name: "gathernd batch", op: "GatherND", opset: 13, attrs: map[string]*Attr{"batch_dims": IntAttr(1)}, in: []Operand{shT(f, 2, 2, 2), shT(tensor.Int64, 2, 1)}, want: "float32[2,2]"},
		{name: "concat", op: "Concat", opset: 13, attrs: axis(1), in: []Operand{shT(f, "b", 3), shT(f, "b", 5)}, want: "float32[b,8]"},
		{name: "concat symbolic", op: "Concat", opset: 13, attrs: axis(0), in: []Operand{shT(f, 2, 3), shT(f, "b", 3)}, want: "float32[?,3]"},
		{name: "concat empty and symbolic", op: "Concat", opset: 13, attrs: axis(-2), in: []Operand{shT(f, 0, 3), shT(f, "b", 3)}, want: "float32[b,3]"},
		{name: "concat fills symbolic", op: "Concat", opset: 13, attrs: axis(0), in: []Operand{shT(f, 1, "b"), shT(f, 1, 3)}, want: "float32[2,3]"},
		{name: "concat dtype", op: "Concat", opset: 13, attrs: axis(0), in: []Operand{shT(f, 1), shT(tensor.Int64, 1)}, want: "error: input 1 is int64"},
		{name: "concat dims", op: "Concat", opset: 13, attrs: axis(0), in: []Operand{shT(f, 1, 2), shT(f, 1, 3)}, want: "error: input 1 axis 1"},
		{name: "concat no axis", op: "Concat", opset: 13, in: []Operand{shT(f, 1, 2)}, want: "error: missing attribute axis"},
		{name: "concat-1 default axis", op: "Concat", opset: 1, in: []Operand{shT(f, 1, 2), shT(f, 1, 3)}, want: "float32[1,5]"},
		{name: "split equal", op: "Split", opset: 13, attrs: axis(1), in: []Operand{shT(f, "b", 6)}, outs: 3, want: "float32[b,2] float32[b,2] float32[b,2]"},
		{name: "split input", op: "Split", opset: 13, attrs: axis(-1), in: []Operand{shT(f, 2, 6), shI64(2, 4)}, outs: 2, want: "float32[2,2] float32[2,4]"},
		{name: "split attr at 11", op: "Split", opset: 11, attrs: map[string]*Attr{"split": IntsAttr(1, 5)}, in: []Operand{shT(f, 6)}, outs: 2, want: "float32[1] float32[5]"},
		{name: "split zero sizes", op: "Split", opset: 13, in: []Operand{shT(f, 0), shI64(0, 0, 0)}, outs: 3, want: "float32[0] float32[0] float32[0]"},
		{name: "split uneven at 17", op: "Split", opset: 17, in: []Operand{shT(f, 7)}, outs: 3, want: "error: equal parts"},
		{name: "split uneven at 18", op: "Split", opset: 18, attrs: map[string]*Attr{"num_outputs": IntAttr(3)}, in: []Operand{shT(f, 7)}, outs: 3, want: "float32[3] float32[3] float32[1]"},
		{name: "split bad sum", op: "Split", opset: 13, in: []Operand{shT(f, 6), shI64(2, 2)}, outs: 2, want: "error: sums to 4"},
		{name: "split symbolic", op: "Split", opset: 13, in: []Operand{shT(f, "n", 2)}, outs: 2, want: "float32[?,2] float32[?,2]"},
		{name: "split unknown input", op: "Split", opset: 13, in: []Operand{shT(f, 6, 2), shT(tensor.Int64, 2)}, outs: 2, want: "float32[?,2] float32[?,2]"},
		{name: "slice", op: "Slice", opset: 13, in: []Operand{shT(f, 20, 10, 5), shI64(0, 0), shI64(3, 10), shI64(0, 1), shI64(1, 1)}, want: "float32[3,10,5]"},
		{name: "slice default axes", op: "Slice", opset: 13, in: []Operand{shT(f, 20, 10, 5), shI64(0, 0, 3), shI64(20, 10, 4)}, want: "float32[20,10,1]"},
		{name: "slice negative steps", op: "Slice", opset: 13, in: []Operand{shT(f, 20, 10, 5), shI64(20, 10, 4), shI64(0, 0, 1), shI64(0, 1, 2), shI64(-1, -3, -2)}, want: "float32[19,3,2]"},
		{name: "slice out of bounds", op: "Slice", opset: 13, in: []Operand{shT(f, 20, 10, 5), shI64(1000), shI64(1000), shI64(1), shI64(1)}, want: "float32[20,0,5]"},
		{name: "slice symbolic to end", op: "Slice", opset: 13, in: []Operand{shT(f, "b", "t", 8), shI64(0), shI64(big), shI64(1)}, want: "float32[b,t,8]"},
		{name: "slice symbolic reversed", op: "Slice", opset: 13, in: []Operand{shT(f, "b", "t", 8), shI64(-1), shI64(-big), shI64(1), shI64(-1)}, want: "float32[b,t,8]"},
		{name: "slice symbolic partial", op: "Slice", opset: 13, in: []Operand{shT(f, "b", "t", 8), shI64(-1), shI64(big), shI64(1)}, want: "float32[b,?,8]"},
		{name: "slice unknown", op: "Slice", opset: 13, in: []Operand{shT(f, "b", 8), shT(tensor.Int64, 1), shI64(2)}, want: "float32[?,?]"},
		{name: "slice attrs at 9", op: "Slice", opset: 9, attrs: map[string]*Attr{"starts": IntsAttr(1), "ends": IntsAttr(-1), "axes": IntsAttr(1)}, in: []Operand{shT(f, "b", 8)}, want: "float32[b,6]"},
		{name: "slice step 0", op: "Slice", opset: 13, in: []Operand{shT(f, 8), shI64(0), shI64(2), shI64(0), shI64(0)}, want: "error: step 0"},
		{name: "slice repeated axis", op: "Slice", opset: 13, in: []Operand{shT(f, 8), shI64(0, 0), shI64(2, 2), shI64(0, -1)}, want: "error: repeated"},
	} {
		c.run(t)
	}
}

func TestShapeValueInputs(t *testing.T) {
	for _, c := range []struct {
		op    string
		opset int
		want  []int
	}{
		{"Squeeze", 11, nil}, {"Squeeze", 13, []int{1}},
		{"Unsqueeze", 12, nil}, {"Unsqueeze", 13, []int{1}},
		{"Split", 11, nil}, {"Split", 13, []int{1}},
		{"Slice", 9, nil}, {"Slice", 10, []int{1, 2, 3, 4}},
		{"Reshape", 4, nil}, {"Reshape", 5, []int{1}},
		{"Expand", 8, []int{1}}, {"Tile", 13, []int{1}}, {"Tile", 1, []int{1, 2}},
		{"Pad", 2, nil}, {"Pad", 11, []int{1}}, {"Pad", 18, []int{1, 3}},
		{"ConstantOfShape", 9, []int{0}}, {"Range", 11, []int{0, 1, 2}},
	} {
		s, ok := Lookup(c.op)
		if !ok {
			t.Fatalf("no schema for %s", c.op)
		}
		if got := s.ValueInputs(c.opset); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s at opset %d: value inputs %v, want %v", c.op, c.opset, got, c.want)
		}
	}
	for _, op := range []string{"Gather", "Concat", "Transpose", "Shape", "Flatten", "Identity"} {
		if s, _ := Lookup(op); s.ValueInputs != nil {
			t.Errorf("%s has value inputs %v", op, s.ValueInputs(17))
		}
	}
}

// naiveSliceLen enumerates Python's slice semantics (which ONNX Slice
// follows) index by index.
func naiveSliceLen(dim, start, end, step int64) (first, count int64) {
	norm := func(v, lo, hi int64) int64 {
		if v < 0 {
			v += dim
			if v < lo {
				v = lo
			}
		}
		if v > hi {
			v = hi
		}
		return v
	}
	if step > 0 {
		start, end = norm(start, 0, dim), norm(end, 0, dim)
		for i := start; i < end; i += step {
			count++
		}
		return start, count
	}
	start, end = norm(start, -1, dim-1), norm(end, -1, dim-1)
	for i := start; i > end; i += step {
		count++
	}
	return start, count
}

func TestSliceRangeMatchesEnumeration(t *testing.T) {
	vals := []int64{math.MinInt64, -1000, -7, -6, -5, -2, -1, 0, 1, 2, 4, 5, 6, 7, 1000, math.MaxInt64}
	for dim := int64(0); dim <= 6; dim++ {
		for _, s := range vals {
			for _, e := range vals {
				for _, st := range []int64{-7, -2, -1, 1, 2, 3, 9} {
					f, c := SliceRange(dim, s, e, st)
					nf, nc := naiveSliceLen(dim, s, e, st)
					if c != nc || (c > 0 && f != nf) {
						t.Fatalf("SliceRange(%d, %d, %d, %d) = %d, %d; want %d, %d", dim, s, e, st, f, c, nf, nc)
					}
				}
			}
		}
	}
}
