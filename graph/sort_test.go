package graph

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// opList returns the ops of g's nodes, in order.
func opList(g *Graph) []string {
	ops := make([]string, len(g.Nodes))
	for i, n := range g.Nodes {
		ops[i] = n.Op
	}
	return ops
}

// outNames returns the first output name of each node, in order.
func outNames(g *Graph) []string {
	names := make([]string, len(g.Nodes))
	for i, n := range g.Nodes {
		names[i] = n.Outputs[0].Name
	}
	return names
}

func diamond() *Builder {
	b := NewBuilder("diamond", 13)
	b.Input("x", tensor.Float32, "batch", 4)
	b.Node("Relu", []string{"x"}, []string{"a"}, nil)
	b.Node("Sigmoid", []string{"x"}, []string{"b"}, nil)
	b.Node("Tanh", []string{"a"}, []string{"c"}, nil)
	b.Node("Add", []string{"c", "b"}, []string{"d"}, nil)
	b.Output("d")
	return b
}

func TestSortKeepsSortedOrder(t *testing.T) {
	g := diamond().Graph()
	want := outNames(g)
	if err := Sort(g); err != nil {
		t.Fatal(err)
	}
	if got := outNames(g); !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestSortReordersStably(t *testing.T) {
	g := diamond().Graph()
	// Reverse the nodes: d, c, b, a.
	slices.Reverse(g.Nodes)
	if err := Sort(g); err != nil {
		t.Fatal(err)
	}
	// Ready first are b (now at position 2) and a (position 3): b goes first
	// because it is earlier in the current order; then a, then c, then d.
	want := []string{"b", "a", "c", "d"}
	if got := outNames(g); !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestSortCycleNamesNode(t *testing.T) {
	b := NewBuilder("cycle", 13)
	b.Input("x", tensor.Float32, 4)
	n1 := b.Node("Relu", []string{"x"}, []string{"a"}, nil)
	b.Node("Tanh", []string{"a"}, []string{"c"}, nil)
	b.Node("Sigmoid", []string{"x"}, []string{"free"}, nil)
	n1.Name = "first"
	// Close the loop: first now reads c, which depends on first.
	n1.Inputs[0] = b.Value("c")
	g := b.Graph()
	err := Sort(g)
	if !errors.Is(err, ErrCycle) {
		t.Fatalf("err = %v, want ErrCycle", err)
	}
	var ne *NodeError
	if !errors.As(err, &ne) || (ne.Node.Op != "Relu" && ne.Node.Op != "Tanh") {
		t.Fatalf("err = %v, want a NodeError naming Relu or Tanh", err)
	}
	if !strings.Contains(err.Error(), "first") || !strings.Contains(err.Error(), "Tanh(c)") {
		t.Fatalf("error %q does not list the cycle", err)
	}
}
