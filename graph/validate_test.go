package graph

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

func TestValidateAcceptsAndTypesGraph(t *testing.T) {
	b := mlp()
	if err := Validate(b.Graph()); err != nil {
		t.Fatal(err)
	}
	if got := b.Value("7").Type.String(); got != "float32[batch,4]" {
		t.Fatalf("Validate left output type %s", got)
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(b *Builder)
		want   string // in the error message
		node   string // op of the node the NodeError names, "" when none
	}{
		{"undefined input", func(b *Builder) {
			b.Graph().Nodes[1].Inputs[0] = &Value{Name: "ghost"}
		}, `"ghost") is not defined`, "Relu"},
		{"out of order", func(b *Builder) {
			g := b.Graph()
			slices.Reverse(g.Nodes)
		}, "does not come before it", "Gemm"},
		{"duplicate name", func(b *Builder) {
			b.Graph().Nodes[1].Outputs[0].Name = "/0/Gemm_output_0"
		}, "used by two values", "Relu"},
		{"output not produced", func(b *Builder) {
			g := b.Graph()
			g.Outputs = append(g.Outputs, &Value{Name: "nowhere"})
		}, `graph output 1 ("nowhere")`, ""},
		{"stale producer", func(b *Builder) {
			g := b.Graph()
			g.Nodes[1].Outputs[0].Producer = g.Nodes[0]
		}, "names another producer", "Relu"},
		{"arity", func(b *Builder) {
			g := b.Graph()
			g.Nodes[1].Inputs = append(g.Nodes[1].Inputs, g.Inputs[0])
		}, "2 inputs", "Relu"},
		{"type mismatch", func(b *Builder) {
			b.Graph().Initializers[0].Const = randTensor(9, 16, 7) // K = 7, x has 8
			b.Graph().Initializers[0].Type = ShapeOf(tensor.Float32, tensor.Shape{16, 7})
		}, "", "Gemm"},
		{"initializer without value", func(b *Builder) {
			b.Graph().Initializers[1].Const = nil
		}, "no constant value", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := mlp()
			c.mutate(b)
			err := Validate(b.Graph())
			if err == nil {
				t.Fatal("Validate accepted a broken graph")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			var ne *NodeError
			if c.node != "" && (!errors.As(err, &ne) || ne.Node.Op != c.node) {
				t.Errorf("error %q does not name the %s node", err, c.node)
			}
		})
	}
}

func TestValidateUnsupportedOp(t *testing.T) {
	b := mlp()
	b.Graph().Nodes[1].Op = "Frobnicate"
	var ue *UnsupportedOpError
	if err := Validate(b.Graph()); !errors.As(err, &ue) || ue.Op != "Frobnicate" {
		t.Fatalf("err = %v, want UnsupportedOpError", err)
	}
	b = mlp()
	b.Graph().Nodes[1].Domain = "com.example"
	if err := Validate(b.Graph()); !errors.As(err, &ue) || ue.Domain != "com.example" {
		t.Fatalf("err = %v, want UnsupportedOpError for the foreign domain", err)
	}
}
