package train

import (
	"fmt"
	"path"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// cloneGraph copies g's structure (graph, nodes, values, attribute maps) so
// the training rewrite leaves the caller's graph alone. Tensors are shared:
// nothing here writes to them.
func cloneGraph(g *graph.Graph) *graph.Graph {
	vals := map[*graph.Value]*graph.Value{}
	cv := func(v *graph.Value) *graph.Value {
		if v == nil {
			return nil
		}
		if c, ok := vals[v]; ok {
			return c
		}
		c := &graph.Value{Name: v.Name, Type: v.Type, Const: v.Const}
		c.Type.Shape = append([]graph.Dim(nil), v.Type.Shape...)
		vals[v] = c
		return c
	}
	out := &graph.Graph{Name: g.Name, Opset: g.Opset}
	if g.Domains != nil {
		out.Domains = map[string]int{}
		for k, v := range g.Domains {
			out.Domains[k] = v
		}
	}
	for _, v := range g.Inputs {
		out.Inputs = append(out.Inputs, cv(v))
	}
	for _, v := range g.Initializers {
		out.Initializers = append(out.Initializers, cv(v))
	}
	for _, n := range g.Nodes {
		c := &graph.Node{Name: n.Name, Op: n.Op, Domain: n.Domain, Attrs: map[string]*graph.Attr{}}
		for k, a := range n.Attrs {
			c.Attrs[k] = a
		}
		for _, v := range n.Inputs {
			c.Inputs = append(c.Inputs, cv(v))
		}
		for _, v := range n.Outputs {
			o := cv(v)
			if o != nil {
				o.Producer = c
			}
			c.Outputs = append(c.Outputs, o)
		}
		out.Nodes = append(out.Nodes, c)
	}
	for _, v := range g.Outputs {
		out.Outputs = append(out.Outputs, cv(v))
	}
	return out
}

// MatchParams returns the names of g's floating-point initializers that
// match any of the patterns (exact names or path.Match globs such as
// "head/*"); no patterns select every floating-point initializer with more
// than one element (one-element constants are exporters' scalars — epsilons,
// exponents — far more often than weights; name one to train it). A pattern
// that is malformed or matches nothing is an error, so a typo cannot freeze
// the whole model silently.
func MatchParams(g *graph.Graph, patterns []string) ([]string, error) {
	var names []string
	hit := make([]bool, len(patterns))
	for _, v := range g.Initializers {
		if v.Const == nil || !v.Const.DType.IsFloat() {
			continue
		}
		ok := len(patterns) == 0 && v.Const.Len() > 1
		for i, p := range patterns {
			m, err := path.Match(p, v.Name)
			if err != nil {
				return nil, fmt.Errorf("train: parameter pattern %q: %w", p, err)
			}
			if m {
				ok, hit[i] = true, true
			}
		}
		if ok {
			names = append(names, v.Name)
		}
	}
	for i, p := range patterns {
		if !hit[i] {
			return nil, fmt.Errorf("train: parameter pattern %q matches no floating-point initializer", p)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("train: no trainable parameters")
	}
	return names, nil
}

// promoteParams turns the named initializers of g into graph inputs
// (appended after the existing inputs, in names' order) and returns those
// values with their initial contents. Only float32 and float64 parameters
// are trainable.
func promoteParams(g *graph.Graph, names []string) ([]*graph.Value, []*tensor.Tensor, error) {
	want := map[string]int{}
	for i, n := range names {
		want[n] = i
	}
	vals := make([]*graph.Value, len(names))
	inits := make([]*tensor.Tensor, len(names))
	kept := g.Initializers[:0:0]
	for _, v := range g.Initializers {
		i, ok := want[v.Name]
		if !ok {
			kept = append(kept, v)
			continue
		}
		if dt := v.Const.DType; dt != tensor.Float32 && dt != tensor.Float64 {
			return nil, nil, fmt.Errorf("train: parameter %q is %v; only float32 and float64 are trainable", v.Name, dt)
		}
		vals[i], inits[i] = v, v.Const
		v.Type = graph.ShapeOf(v.Const.DType, v.Const.Shape)
		v.Const = nil
	}
	for i, v := range vals {
		if v == nil {
			return nil, nil, fmt.Errorf("train: no initializer %q", names[i])
		}
	}
	g.Initializers = kept
	g.Inputs = append(g.Inputs, vals...)
	return vals, inits, nil
}
