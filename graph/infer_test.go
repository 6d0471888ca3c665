package graph

import (
	"errors"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// mlp mirrors torch's export of nn.Sequential(Linear(8,16), ReLU(),
// Linear(16,4)) at opsets 13 to 17: Gemm(transB=1) → Relu → Gemm.
func mlp() *Builder {
	b := NewBuilder("mlp", 13)
	b.Input("x", tensor.Float32, "batch", 8)
	b.Initializer("0.weight", randTensor(1, 16, 8))
	b.Initializer("0.bias", randTensor(2, 16))
	b.Initializer("2.weight", randTensor(3, 4, 16))
	b.Initializer("2.bias", randTensor(4, 4))
	gemm := map[string]*Attr{"alpha": FloatAttr(1), "beta": FloatAttr(1), "transB": IntAttr(1)}
	b.Node("Gemm", []string{"x", "0.weight", "0.bias"}, []string{"/0/Gemm_output_0"}, gemm)
	b.Node("Relu", []string{"/0/Gemm_output_0"}, []string{"/1/Relu_output_0"}, nil)
	b.Node("Gemm", []string{"/1/Relu_output_0", "2.weight", "2.bias"}, []string{"7"}, gemm)
	b.Output("7")
	return b
}

func TestInferKeepsSymbolicDims(t *testing.T) {
	b := mlp()
	g := b.Graph()
	if err := Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.Value("/0/Gemm_output_0").Type.String(); got != "float32[batch,16]" {
		t.Errorf("hidden type %s, want float32[batch,16]", got)
	}
	if got := b.Value("7").Type.String(); got != "float32[batch,4]" {
		t.Errorf("output type %s, want float32[batch,4]", got)
	}
}

func TestInferBindsSymbolicDims(t *testing.T) {
	b := mlp()
	g := b.Graph()
	if err := Infer(g, map[string]int64{"batch": 3}); err != nil {
		t.Fatal(err)
	}
	if s, ok := b.Value("7").Type.Concrete(); !ok || !s.Equal(tensor.Shape{3, 4}) {
		t.Fatalf("output type %v, want [3,4]", b.Value("7").Type)
	}
	if got := g.Inputs[0].Type.String(); got != "float32[3,8]" {
		t.Fatalf("input type %s, want float32[3,8]", got)
	}
}

func TestInferChecksDeclaredOutputType(t *testing.T) {
	b := mlp()
	g := b.Graph()
	b.Value("7").Type = Type{DType: tensor.Float32, Shape: Dims("N", 5), Known: true}
	err := Infer(g, nil)
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Node.Op != "Gemm" || !strings.Contains(err.Error(), "dimension 1") {
		t.Fatalf("err = %v, want a NodeError about dimension 1 of the Gemm's output", err)
	}

	// A compatible declaration refines what inference cannot know: the
	// declared symbol stays where inference has a symbol of its own, and
	// the fixed size agrees.
	b = mlp()
	b.Value("7").Type = Type{DType: tensor.Float32, Shape: Dims("N", 4), Known: true}
	if err := Infer(b.Graph(), nil); err != nil {
		t.Fatal(err)
	}
	if got := b.Value("7").Type.String(); got != "float32[batch,4]" {
		t.Fatalf("output type %s, want float32[batch,4]", got)
	}
}

func TestInferPassesConstantNodeValues(t *testing.T) {
	b := NewBuilder("reshape", 13)
	b.Input("x", tensor.Float32, 2, 4, 8)
	shape := b.Constant(tensor.From([]int64{-1, 32}, 2))
	y := b.Op("Reshape", nil, "x", shape)
	b.Output(y)
	if err := Infer(b.Graph(), nil); err != nil {
		t.Fatal(err)
	}
	if got := b.Value(y).Type.String(); got != "float32[2,32]" {
		t.Fatalf("Reshape output %s, want float32[2,32]", got)
	}
}

func TestInferUnsupportedOp(t *testing.T) {
	b := NewBuilder("custom", 13)
	b.Input("x", tensor.Float32, 2)
	b.Node("NoSuchOp", []string{"x"}, []string{"y"}, nil).Name = "mystery"
	b.Output("y")
	var ue *UnsupportedOpError
	if err := Infer(b.Graph(), nil); !errors.As(err, &ue) || ue.Node != "mystery" {
		t.Fatalf("err = %v, want UnsupportedOpError for node mystery", err)
	}
}
