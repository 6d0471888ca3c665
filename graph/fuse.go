package graph

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/tensor"
)

// Fuse rewrites the subgraphs PyTorch exports for common layers into single
// nodes the kernels implement directly, and returns the number of rewrites:
//
//   - GELU, exact (x·0.5·(1+Erf(x/√2)), in each of its exported orderings)
//     and tanh-approximated (0.5·x·(1+Tanh(√(2/π)·(x+0.044715·x³)))), becomes
//     a Gelu node (default domain; approximate "none" or "tanh");
//   - the LayerNorm subgraph PyTorch emits below opset 17 (ReduceMean → Sub
//     → Pow(2) → ReduceMean → Add(ε) → Sqrt → Div [→ Mul(γ)] [→ Add(β)])
//     becomes a LayerNormalization node (opset-17 semantics: axis, epsilon);
//   - MatMul + Add(bias of N elements, N = B's last dimension) [+ activation]
//     becomes FusedMatMul(A, B, Bias) in SextantDomain, and Gemm + activation
//     becomes FusedGemm (Gemm's inputs and attributes); the activation is one
//     of Relu, LeakyRelu, Sigmoid, Tanh and Gelu, recorded in the string
//     attribute "activation" ("Relu", "LeakyRelu", "Sigmoid", "Tanh",
//     "Gelu" or "GeluTanh"; absent when there is none) with LeakyRelu's alpha
//     in the float attribute "activation_alpha";
//   - Conv + activation becomes FusedConv (SextantDomain; Conv's inputs and
//     attributes plus the same "activation" attributes).
//
// GELU and LayerNorm fuse for float32 and float64 values, MatMul and Gemm for
// float32, Conv for float32, so element types must be known (run Infer first).
//
// Patterns match structurally; the constants in them (√2, 0.5, 1, 0.044715,
// √(2/π), the exponent 2, ε) are checked by value with a relative tolerance
// of 1e-4 (wider for float16 and bfloat16 constants), and a pattern matches
// only when its intermediate values are read by nothing outside it and are
// not graph outputs. GELU and LayerNorm fuse first, so a Gelu they produce
// can then fold into a preceding MatMul.
//
// A rewrite replaces the pattern's last node in place and keeps its output
// value, so readers and graph outputs are untouched and the order stays
// topological. Constants a rewrite creates (a reshaped bias, LayerNorm's
// Scale of ones) are appended to g.Initializers. Run DCE afterwards to drop
// constants the patterns no longer read.
func Fuse(g *Graph) (int, error) {
	f := &fuser{g: g}
	total := 0
	for _, rule := range []fuseRule{f.gelu, f.layerNorm, f.matMulBias, f.gemmActivation, f.convActivation} {
		n, err := f.apply(rule)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// A fuseRule tries to match a pattern whose first (anchor) node is n. It
// returns nil when there is no match.
type fuseRule func(n *Node, u *uses) (*rewrite, error)

// rewrite replaces the nodes in remove by node, which takes over the outputs
// of the last of them.
type rewrite struct {
	remove []*Node
	node   *Node
}

type fuser struct {
	g     *Graph
	names map[string]bool
}

// apply runs rule at every node, in order, until it no longer matches.
func (f *fuser) apply(rule fuseRule) (int, error) {
	count := 0
	u := indexUses(f.g)
	for i := 0; i < len(f.g.Nodes); i++ {
		rw, err := rule(f.g.Nodes[i], u)
		if err != nil {
			return count, err
		}
		if rw == nil {
			continue
		}
		f.replace(rw)
		count++
		u = indexUses(f.g)
		i = -1 // positions changed; rescan (matched nodes are gone)
	}
	return count, nil
}

// replace swaps rw.node in for the last node of rw.remove and deletes the
// others.
func (f *fuser) replace(rw *rewrite) {
	gone := make(map[*Node]bool, len(rw.remove))
	for _, n := range rw.remove {
		gone[n] = true
	}
	last := -1
	for i, n := range f.g.Nodes {
		if gone[n] {
			last = i
		}
	}
	f.g.Nodes[last] = rw.node
	for _, v := range rw.node.Outputs {
		if v != nil {
			v.Producer = rw.node
		}
	}
	kept := f.g.Nodes[:0]
	for i, n := range f.g.Nodes {
		if i == last || !gone[n] {
			kept = append(kept, n)
		}
	}
	clear(f.g.Nodes[len(kept):])
	f.g.Nodes = kept
}

// constant adds a new initializer holding t, named after base and unique in
// the graph.
func (f *fuser) constant(base string, t *tensor.Tensor) *Value {
	if f.names == nil {
		f.names = map[string]bool{}
		add := func(v *Value) {
			if v != nil {
				f.names[v.Name] = true
			}
		}
		for _, v := range f.g.Inputs {
			add(v)
		}
		for _, v := range f.g.Initializers {
			add(v)
		}
		for _, n := range f.g.Nodes {
			for _, v := range n.Outputs {
				add(v)
			}
		}
	}
	name := base
	for i := 1; f.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	f.names[name] = true
	v := &Value{Name: name, Type: ShapeOf(t.DType, t.Shape), Const: t}
	f.g.Initializers = append(f.g.Initializers, v)
	return v
}

// is reports whether n applies op in the default domain.
func is(n *Node, op string) bool {
	return n != nil && n.Op == op && (n.Domain == "" || n.Domain == "ai.onnx")
}

// producedBy returns v's producer when it applies op, else nil.
func producedBy(v *Value, op string) *Node {
	if v != nil && is(v.Producer, op) {
		return v.Producer
	}
	return nil
}

// out0 returns n's first output, or nil.
func out0(n *Node) *Value {
	if n == nil || len(n.Outputs) == 0 {
		return nil
	}
	return n.Outputs[0]
}

// other returns the input of binary node n that is not v, or nil when v is
// not one of its two inputs (or is both).
func other(n *Node, v *Value) *Value {
	if len(n.Inputs) != 2 || n.Inputs[0] == n.Inputs[1] {
		return nil
	}
	switch v {
	case n.Inputs[0]:
		return n.Inputs[1]
	case n.Inputs[1]:
		return n.Inputs[0]
	}
	return nil
}

// scalar returns the value of a constant holding one number.
func scalar(v *Value) (float64, bool) {
	t := ConstValue(v)
	if t == nil || t.Len() != 1 || t.DType == tensor.String || t.DType == tensor.Bool {
		return 0, false
	}
	return t.Float64At(0), true
}

// scalarNear reports whether v is a constant holding one number within a
// relative 1e-4 of want (1e-3 for float16 and 1e-2 for bfloat16 constants,
// whose rounding alone is larger).
func scalarNear(v *Value, want float64) bool {
	x, ok := scalar(v)
	if !ok {
		return false
	}
	tol := 1e-4
	switch ConstValue(v).DType {
	case tensor.Float16:
		tol = 1e-3
	case tensor.BFloat16:
		tol = 1e-2
	}
	return math.Abs(x-want) <= tol*math.Abs(want)
}

// constScalarInput returns the input of binary node n other than a constant
// scalar near want, or nil when neither input is such a constant.
func constScalarInput(n *Node, want float64) *Value {
	if len(n.Inputs) != 2 {
		return nil
	}
	switch {
	case scalarNear(n.Inputs[1], want):
		return n.Inputs[0]
	case scalarNear(n.Inputs[0], want):
		return n.Inputs[1]
	}
	return nil
}

// fusedFloat reports whether Gelu and LayerNormalization nodes made by
// fusion can take values of type dt: the kernels implement them for float32
// and float64.
func fusedFloat(dt tensor.DType) bool {
	return dt == tensor.Float32 || dt == tensor.Float64
}

// typeOf returns v's type, taken from its value when it is a constant.
func typeOf(v *Value) Type {
	if t := ConstValue(v); t != nil {
		return ShapeOf(t.DType, t.Shape)
	}
	return v.Type
}
