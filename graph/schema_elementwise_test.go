package graph

import (
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

func operand(dt tensor.DType, dims ...Dim) Operand {
	return Operand{Present: true, Type: Type{DType: dt, Shape: dims, Known: true}}
}

func ewNode(op string, attrs map[string]*Attr, outputs int) *Node {
	n := &Node{Op: op, Attrs: attrs}
	for range outputs {
		n.Outputs = append(n.Outputs, &Value{})
	}
	return n
}

func inferOne(t *testing.T, n *Node, opset int, in ...Operand) Type {
	t.Helper()
	out, err := InferNode(n, opset, in)
	if err != nil {
		t.Fatalf("%s: %v", n.Op, err)
	}
	return out[0]
}

func TestInferElementwiseSymbolic(t *testing.T) {
	batch, seq := Symbol("batch"), Symbol("seq")
	cases := []struct {
		op   string
		in   []Operand
		want string
	}{
		{"Add", []Operand{operand(tensor.Float32, batch, seq, Fixed(8)), operand(tensor.Float32, Fixed(8))}, "float32[batch,seq,8]"},
		{"Mul", []Operand{operand(tensor.Float32, batch, Fixed(1)), operand(tensor.Float32, Fixed(1), Fixed(4))}, "float32[batch,4]"},
		{"Sub", []Operand{operand(tensor.Int64, batch), operand(tensor.Int64, seq)}, "int64[?]"},
		{"Div", []Operand{operand(tensor.Float32, batch), operand(tensor.Float32, Fixed(3))}, "float32[3]"},
		{"Less", []Operand{operand(tensor.Float16, batch, Fixed(3)), operand(tensor.Float16)}, "bool[batch,3]"},
		{"Equal", []Operand{operand(tensor.Bool, batch), operand(tensor.Bool, batch)}, "bool[batch]"},
		{"And", []Operand{operand(tensor.Bool, Fixed(2), Fixed(1)), operand(tensor.Bool, Fixed(5))}, "bool[2,5]"},
		{"Pow", []Operand{operand(tensor.Int32, batch), operand(tensor.Float32, Fixed(1))}, "int32[batch]"},
		{"Max", []Operand{operand(tensor.Float32, batch, Fixed(1)), operand(tensor.Float32, Fixed(7)), operand(tensor.Float32)}, "float32[batch,7]"},
		{"Min", []Operand{operand(tensor.Uint8, seq)}, "uint8[seq]"},
		{"Where", []Operand{operand(tensor.Bool, batch, Fixed(1)), operand(tensor.Int64, Fixed(3)), operand(tensor.Int64)}, "int64[batch,3]"},
		{"Sigmoid", []Operand{operand(tensor.BFloat16, batch, seq)}, "bfloat16[batch,seq]"},
		{"Gelu", []Operand{operand(tensor.Float32, batch)}, "float32[batch]"},
		{"Relu", []Operand{operand(tensor.Int8, batch)}, "int8[batch]"},
		{"Not", []Operand{operand(tensor.Bool, batch)}, "bool[batch]"},
		{"Clip", []Operand{operand(tensor.Int8, batch), {}, operand(tensor.Int8)}, "int8[batch]"},
		{"CastLike", []Operand{operand(tensor.Float32, batch), operand(tensor.Float16, Fixed(1))}, "float16[batch]"},
	}
	for _, c := range cases {
		got := inferOne(t, ewNode(c.op, nil, 1), 17, c.in...)
		if got.String() != c.want {
			t.Errorf("%s: inferred %v, want %s", c.op, got, c.want)
		}
	}
	cast := ewNode("Cast", map[string]*Attr{"to": {Kind: AttrInt, Int: int64(tensor.String)}}, 1)
	if got := inferOne(t, cast, 13, operand(tensor.Float32, batch, Fixed(2))); got.String() != "string[batch,2]" {
		t.Errorf("Cast: inferred %v", got)
	}
	// Unknown rank stays unknown, with the dtype still inferred.
	got := inferOne(t, ewNode("Greater", nil, 1), 13, Operand{Present: true, Type: Type{DType: tensor.Float32}}, operand(tensor.Float32, Fixed(2)))
	if got.Known || got.DType != tensor.Bool {
		t.Errorf("Greater with unknown rank: %v (known %v)", got, got.Known)
	}
}

func TestInferElementwiseRejectsInconsistentTypes(t *testing.T) {
	cases := []struct {
		op    string
		attrs map[string]*Attr
		in    []Operand
	}{
		{"Add", nil, []Operand{operand(tensor.Float32, Fixed(2)), operand(tensor.Float64, Fixed(2))}},
		{"Add", nil, []Operand{operand(tensor.Float32, Fixed(2)), operand(tensor.Float32, Fixed(3))}},
		{"Add", nil, []Operand{operand(tensor.Bool, Fixed(2)), operand(tensor.Bool, Fixed(2))}},
		{"Less", nil, []Operand{operand(tensor.Int32, Fixed(2)), operand(tensor.Int64, Fixed(2))}},
		{"And", nil, []Operand{operand(tensor.Int32, Fixed(2)), operand(tensor.Int32, Fixed(2))}},
		{"Max", nil, []Operand{operand(tensor.Float32, Fixed(2)), operand(tensor.Float16, Fixed(2))}},
		{"Exp", nil, []Operand{operand(tensor.Int32, Fixed(2))}},
		{"Not", nil, []Operand{operand(tensor.Float32, Fixed(2))}},
		{"Where", nil, []Operand{operand(tensor.Int32, Fixed(2)), operand(tensor.Float32, Fixed(2)), operand(tensor.Float32, Fixed(2))}},
		{"Where", nil, []Operand{operand(tensor.Bool, Fixed(2)), operand(tensor.Float32, Fixed(2)), operand(tensor.Int32, Fixed(2))}},
		{"Clip", nil, []Operand{operand(tensor.Float32, Fixed(2)), operand(tensor.Float64)}},
		{"Clip", nil, []Operand{operand(tensor.Float32, Fixed(2)), operand(tensor.Float32, Fixed(2))}},
		{"Cast", nil, []Operand{operand(tensor.Float32, Fixed(2))}},
		{"Cast", map[string]*Attr{"to": {Kind: AttrInt, Int: 14}}, []Operand{operand(tensor.Float32, Fixed(2))}},
	}
	for _, c := range cases {
		if _, err := InferNode(ewNode(c.op, c.attrs, 1), 17, c.in); err == nil {
			t.Errorf("%s %v: no error", c.op, c.in)
		}
	}
}

func TestInferLegacyBroadcast(t *testing.T) {
	a := operand(tensor.Float32, Fixed(2), Fixed(3), Fixed(4))
	b := operand(tensor.Float32, Fixed(3))
	n := ewNode("Add", map[string]*Attr{"broadcast": {Kind: AttrInt, Int: 1}, "axis": {Kind: AttrInt, Int: 1}}, 1)
	if got := inferOne(t, n, 6, a, b); got.String() != "float32[2,3,4]" {
		t.Errorf("Add-6 axis=1: %v", got)
	}
	// Without broadcast=1 the shapes must have the same rank before opset 7,
	if _, err := InferNode(ewNode("Add", nil, 1), 6, []Operand{a, b}); err == nil {
		t.Error("Add-6 without broadcast accepted a rank mismatch")
	}
	// and from opset 7 NumPy rules apply: [2,3,4] + [3] does not broadcast.
	if _, err := InferNode(ewNode("Add", nil, 1), 7, []Operand{a, b}); err == nil {
		t.Error("Add-7 broadcast [3] against trailing 4")
	}
}
