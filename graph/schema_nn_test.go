package graph

import (
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// nnInfer infers the single-output (or nout-output) node op with inputs of
// the given types.
func nnInfer(t *testing.T, op string, opset int, attrs map[string]*Attr, nout int, in ...Operand) ([]Type, error) {
	t.Helper()
	n := &Node{Op: op, Attrs: attrs}
	for range in {
		n.Inputs = append(n.Inputs, &Value{})
	}
	for range nout {
		n.Outputs = append(n.Outputs, &Value{})
	}
	return InferNode(n, opset, in)
}

func nnOp(dt tensor.DType, dims ...Dim) Operand {
	return Operand{Present: true, Type: Type{DType: dt, Shape: dims, Known: true}}
}

func wantDims(t *testing.T, what string, got Type, want ...Dim) {
	t.Helper()
	if !got.Known || len(got.Shape) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range want {
		if got.Shape[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

func TestInferMatMulSymbolic(t *testing.T) {
	f := tensor.Float32
	b, s := Symbol("batch"), Symbol("seq")
	out, err := nnInfer(t, "MatMul", 13, nil, 1, nnOp(f, b, s, Fixed(64)), nnOp(f, Fixed(64), Fixed(32)))
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "batched", out[0], b, s, Fixed(32))
	out, _ = nnInfer(t, "MatMul", 13, nil, 1, nnOp(f, Fixed(64)), nnOp(f, b, Fixed(64), Fixed(8)))
	wantDims(t, "1-D A", out[0], b, Fixed(8))
	out, _ = nnInfer(t, "MatMul", 13, nil, 1, nnOp(f, b, Fixed(64)), nnOp(f, Fixed(64)))
	wantDims(t, "1-D B", out[0], b)
	if _, err := nnInfer(t, "MatMul", 13, nil, 1, nnOp(f, Fixed(2), Fixed(3)), nnOp(f, Fixed(4), Fixed(5))); err == nil {
		t.Fatal("accepted mismatched inner dimensions")
	}
	out, err = nnInfer(t, "FusedMatMul", 13, nil, 1, nnOp(f, b, Fixed(4)), nnOp(f, Fixed(4), Fixed(5)), nnOp(f, Fixed(5)))
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "FusedMatMul", out[0], b, Fixed(5))
	if _, err := nnInfer(t, "FusedMatMul", 13, nil, 1, nnOp(f, b, Fixed(4)), nnOp(f, Fixed(4), Fixed(5)), nnOp(f, Fixed(4))); err == nil {
		t.Fatal("accepted a bias of the wrong length")
	}
}

func TestInferGemm(t *testing.T) {
	f := tensor.Float32
	b := Symbol("batch")
	out, err := nnInfer(t, "Gemm", 13, map[string]*Attr{"transB": {Kind: AttrInt, Int: 1}}, 1,
		nnOp(f, b, Fixed(16)), nnOp(f, Fixed(8), Fixed(16)), nnOp(f, Fixed(8)))
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "Gemm", out[0], b, Fixed(8))
	if _, err := nnInfer(t, "Gemm", 13, nil, 1, nnOp(f, b, Fixed(16)), nnOp(f, Fixed(16), Fixed(8)), nnOp(f, Fixed(7))); err == nil {
		t.Fatal("accepted a C that does not broadcast")
	}
}

func TestInferConvAndPool(t *testing.T) {
	f := tensor.Float32
	b := Symbol("N")
	ints := func(v ...int64) *Attr { return &Attr{Kind: AttrInts, Ints: v} }
	out, err := nnInfer(t, "Conv", 11, map[string]*Attr{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}, 1,
		nnOp(f, b, Fixed(3), Fixed(224), Fixed(224)), nnOp(f, Fixed(16), Fixed(3), Fixed(3), Fixed(3)))
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "Conv", out[0], b, Fixed(16), Fixed(112), Fixed(112))
	out, _ = nnInfer(t, "Conv", 11, map[string]*Attr{"auto_pad": {Kind: AttrString, String: "SAME_UPPER"}, "strides": ints(3)}, 1,
		nnOp(f, b, Fixed(3), Symbol("T")), nnOp(f, Fixed(4), Fixed(3), Fixed(5)))
	wantDims(t, "Conv 1-D symbolic length", out[0], b, Fixed(4), Unknown())
	// ceil_mode rounds up: in 6, k 3, s 2 → ceil(3/2)+1 = 3 windows (floor: 2).
	out, _ = nnInfer(t, "MaxPool", 12, map[string]*Attr{"kernel_shape": ints(3), "strides": ints(2), "ceil_mode": {Kind: AttrInt, Int: 1}}, 2,
		nnOp(f, b, Fixed(1), Fixed(6)))
	wantDims(t, "MaxPool ceil", out[0], b, Fixed(1), Fixed(3))
	if out[1].DType != tensor.Int64 {
		t.Fatalf("Indices type %v, want int64", out[1].DType)
	}
	// in 4, k 1, s 2, pads (0, 2): floor → 3, ceil → 4 but the 4th window
	// would start at 6 ≥ 4 + 0, inside the end padding, so 3.
	out, _ = nnInfer(t, "AveragePool", 11, map[string]*Attr{"kernel_shape": ints(1), "strides": ints(2), "pads": ints(0, 2), "ceil_mode": {Kind: AttrInt, Int: 1}}, 1,
		nnOp(f, b, Fixed(1), Fixed(4)))
	wantDims(t, "AveragePool ceil into padding", out[0], b, Fixed(1), Fixed(3))
}

func TestInferRNNLayouts(t *testing.T) {
	f := tensor.Float32
	s, b := Symbol("seq"), Symbol("batch")
	attrs := map[string]*Attr{"hidden_size": {Kind: AttrInt, Int: 8}, "direction": {Kind: AttrString, String: "bidirectional"}}
	out, err := nnInfer(t, "LSTM", 14, attrs, 3, nnOp(f, s, b, Fixed(4)), nnOp(f, Fixed(2), Fixed(32), Fixed(4)), nnOp(f, Fixed(2), Fixed(32), Fixed(8)))
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "Y", out[0], s, Fixed(2), b, Fixed(8))
	wantDims(t, "Y_c", out[2], Fixed(2), b, Fixed(8))
	attrs["layout"] = &Attr{Kind: AttrInt, Int: 1}
	out, _ = nnInfer(t, "GRU", 14, attrs, 2, nnOp(f, b, s, Fixed(4)), nnOp(f, Fixed(2), Fixed(24), Fixed(4)), nnOp(f, Fixed(2), Fixed(24), Fixed(8)))
	wantDims(t, "Y batch-first", out[0], b, s, Fixed(2), Fixed(8))
	wantDims(t, "Y_h batch-first", out[1], b, Fixed(2), Fixed(8))
	if _, err := nnInfer(t, "GRU", 14, attrs, 2, nnOp(f, b, s, Fixed(4)), nnOp(f, Fixed(2), Fixed(32), Fixed(4)), nnOp(f, Fixed(2), Fixed(24), Fixed(8))); err == nil {
		t.Fatal("accepted W with LSTM's row count for a GRU")
	}
}

func TestInferReduceRuntimeAxes(t *testing.T) {
	f := tensor.Float32
	x := nnOp(f, Symbol("b"), Fixed(3), Fixed(4))
	axes := nnOp(tensor.Int64, Fixed(1))
	out, err := nnInfer(t, "ReduceSum", 13, nil, 1, x, axes)
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "unknown axes, keepdims", out[0], Unknown(), Unknown(), Unknown())
	axes.Const = tensor.From([]int64{-1}, 1)
	out, _ = nnInfer(t, "ReduceSum", 13, map[string]*Attr{"keepdims": {Kind: AttrInt, Int: 0}}, 1, x, axes)
	wantDims(t, "constant axes", out[0], Symbol("b"), Fixed(3))
	out, _ = nnInfer(t, "ReduceMax", 13, map[string]*Attr{"axes": {Kind: AttrInts, Ints: []int64{0, 2}}}, 1, x)
	wantDims(t, "attribute axes", out[0], Fixed(1), Fixed(3), Fixed(1))
	if _, err := nnInfer(t, "ReduceMax", 13, map[string]*Attr{"axes": {Kind: AttrInts, Ints: []int64{3}}}, 1, x); err == nil {
		t.Fatal("accepted an axis out of range")
	}
}

func TestInferNormAndSoftmax(t *testing.T) {
	f := tensor.Float32
	b, s := Symbol("b"), Symbol("s")
	out, err := nnInfer(t, "LayerNormalization", 1, nil, 3, nnOp(f, b, s, Fixed(8)), nnOp(f, Fixed(8)), nnOp(f, Fixed(8)))
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "LayerNorm Mean", out[1], b, s, Fixed(1))
	if _, err := nnInfer(t, "Softmax", 13, map[string]*Attr{"axis": {Kind: AttrInt, Int: 3}}, 1, nnOp(f, b, s, Fixed(8))); err == nil {
		t.Fatal("accepted an axis out of range")
	}
	out, err = nnInfer(t, "BatchNormalization", 15, map[string]*Attr{"training_mode": {Kind: AttrInt, Int: 1}}, 3,
		nnOp(f, b, Fixed(3), s), nnOp(f, Fixed(3)), nnOp(f, Fixed(3)), nnOp(f, Fixed(3)), nnOp(f, Fixed(3)))
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, "running mean", out[1], Fixed(3))
}
