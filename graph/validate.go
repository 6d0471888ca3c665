package graph

import (
	"fmt"
)

// Validate checks that g is a well-formed graph Sextant can run:
//
//   - every value has a name no other value has;
//   - initializers hold a constant and graph inputs do not;
//   - every node input is a graph input, an initializer or an output of an
//     earlier node (Sort first if the file's order may be wrong), and every
//     node output names the node as its Producer;
//   - every graph output is defined;
//   - every node's operator has a schema (else an *UnsupportedOpError), its
//     arity fits the schema, and its types check: Validate runs Infer with no
//     bindings, so on success every value's Type is filled in.
//
// Errors about a node are *NodeError values naming it.
func Validate(g *Graph) error {
	names := map[string]*Value{}
	defined := map[*Value]bool{}
	define := func(v *Value, what string) error {
		if v.Name == "" {
			return fmt.Errorf("%s has no name", what)
		}
		if other, dup := names[v.Name]; dup && other != v {
			return fmt.Errorf("value name %q is used by two values (%s)", v.Name, what)
		}
		if defined[v] {
			return fmt.Errorf("value %q is defined twice (%s)", v.Name, what)
		}
		names[v.Name] = v
		defined[v] = true
		return nil
	}
	for i, v := range g.Inputs {
		if v == nil {
			return fmt.Errorf("graph input %d is nil", i)
		}
		if err := define(v, "graph input"); err != nil {
			return err
		}
		if v.Producer != nil || v.Const != nil {
			return fmt.Errorf("graph input %q has a producer or a constant value", v.Name)
		}
	}
	for i, v := range g.Initializers {
		if v == nil {
			return fmt.Errorf("initializer %d is nil", i)
		}
		if err := define(v, "initializer"); err != nil {
			return err
		}
		if v.Const == nil || v.Producer != nil {
			return fmt.Errorf("initializer %q has no constant value or has a producer", v.Name)
		}
		if err := v.Const.Check(); err != nil {
			return fmt.Errorf("initializer %q: %w", v.Name, err)
		}
	}
	for _, n := range g.Nodes {
		if err := validateNode(n, defined, define); err != nil {
			return err
		}
	}
	for i, v := range g.Outputs {
		if v == nil || !defined[v] {
			return fmt.Errorf("graph output %d (%v) is not produced by the graph", i, valueName(v))
		}
	}
	return Infer(g, nil)
}

func validateNode(n *Node, defined map[*Value]bool, define func(*Value, string) error) error {
	if _, ok := Lookup(n.Op); !ok || (n.Domain != "" && n.Domain != "ai.onnx" && n.Domain != SextantDomain) {
		return &UnsupportedOpError{Op: n.Op, Domain: n.Domain, Node: n.Name}
	}
	for i, v := range n.Inputs {
		if v == nil {
			continue
		}
		if !defined[v] {
			why := "is not defined"
			if v.Producer != nil {
				why = fmt.Sprintf("is produced by %v, which does not come before it", v.Producer)
			}
			return &NodeError{Node: n, Err: fmt.Errorf("input %d (%q) %s", i, v.Name, why)}
		}
	}
	for i, v := range n.Outputs {
		if v == nil {
			continue
		}
		if err := define(v, fmt.Sprintf("output %d", i)); err != nil {
			return &NodeError{Node: n, Err: err}
		}
		if v.Producer != n {
			return &NodeError{Node: n, Err: fmt.Errorf("output %q names another producer (%v)", v.Name, v.Producer)}
		}
		if v.Const != nil {
			return &NodeError{Node: n, Err: fmt.Errorf("output %q also holds a constant value", v.Name)}
		}
	}
	return nil
}

func valueName(v *Value) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", v.Name)
}
