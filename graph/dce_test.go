package graph

import (
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

func TestDCERemovesDeadNodesAndInitializers(t *testing.T) {
	b := NewBuilder("dead", 13)
	b.Input("x", tensor.Float32, 2, 4)
	b.Input("unused_input", tensor.Float32, 3)
	b.Initializer("w", randTensor(1, 4, 3))
	b.Initializer("dead_w", randTensor(2, 4, 3))
	b.Initializer("orphan", randTensor(3, 7))
	y := b.Op("MatMul", nil, "x", "w")
	// A dead chain two nodes long, reading a live value and a dead weight.
	dead := b.Op("MatMul", nil, "x", "dead_w")
	b.Op("Relu", nil, dead)
	out := b.Op("Relu", nil, y)
	b.Output(out)
	g := b.Graph()

	if n := DCE(g); n != 2 {
		t.Fatalf("DCE removed %d nodes, want 2", n)
	}
	if got := opList(g); !slices.Equal(got, []string{"MatMul", "Relu"}) {
		t.Fatalf("nodes %v", got)
	}
	if len(g.Initializers) != 1 || g.Initializers[0].Name != "w" {
		t.Fatalf("initializers %v, want [w]", g.Initializers)
	}
	if len(g.Inputs) != 2 {
		t.Fatalf("DCE dropped a graph input")
	}
	if n := DCE(g); n != 0 {
		t.Fatalf("second DCE removed %d nodes", n)
	}
}

func TestDCEKeepsMultiOutputNodeWithOneLiveOutput(t *testing.T) {
	b := NewBuilder("split", 13)
	b.Input("x", tensor.Float32, 4)
	b.Node("Split", []string{"x"}, []string{"s0", "s1"}, nil)
	b.Output("s1")
	g := b.Graph()
	if n := DCE(g); n != 0 || len(g.Nodes) != 1 {
		t.Fatalf("DCE removed %d nodes; want the Split kept", n)
	}
}

func TestDCEDoesNotNeedSortedNodes(t *testing.T) {
	g := diamond().Graph()
	slices.Reverse(g.Nodes)
	g.Outputs = []*Value{g.Nodes[1].Outputs[0]} // c = Tanh(Relu(x))
	if n := DCE(g); n != 2 {
		t.Fatalf("DCE removed %d nodes, want 2 (Sigmoid and Add)", n)
	}
	if got := opList(g); !slices.Equal(got, []string{"Tanh", "Relu"}) {
		t.Fatalf("nodes %v", got)
	}
}
