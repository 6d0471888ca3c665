// Package onnx reads and writes ONNX models (ModelProto) and tensors
// (TensorProto) as Sextant graphs and tensors.
//
// The protobuf messages are decoded by hand with protowire, from the field
// numbers in ONNX's onnx.proto (IR version 8); no generated code is used, so
// the device build carries no protobuf runtime. Only what Sextant's IR can
// express is accepted: a single graph of tensor-typed values whose nodes are
// in topological order. Subgraphs (If, Loop, Scan), sparse tensors,
// non-tensor types and external data get clear errors.
//
// # Hostile input
//
// Decoding never panics and never allocates more than a small multiple of
// the input's size: every count and shape is checked against the bytes that
// back it before a buffer is made, ranks are capped at MaxRank, and every
// tensor is copied into a fresh 64-byte-aligned buffer (protobuf byte slices
// have no alignment). FuzzDecode and FuzzDecodeTensor check this.
package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sextant-ml/sextant/graph"
)

// MaxFileSize is the largest model ReadFile reads: protobuf messages cannot
// exceed 2 GiB.
const MaxFileSize = 2<<30 - 1

// ReadFile reads and decodes the model at path (see Decode).
func ReadFile(path string) (*graph.Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("onnx: %s is larger than 2 GiB, the protobuf limit", path)
	}
	g, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Decode decodes a serialized ModelProto into a graph and checks that every
// operator has a schema (see CheckOps). Initializers that are also listed as
// graph inputs (older IR versions did so) are constants, not inputs.
func Decode(data []byte) (*graph.Graph, error) {
	g, err := decodeModel(data)
	if err != nil {
		return nil, err
	}
	if err := CheckOps(g); err != nil {
		return nil, err
	}
	return g, nil
}

// CheckOps returns nil if every node's operator has a schema in package
// graph, else one *graph.UnsupportedOpError per unsupported operator (for
// its first node), joined with errors.Join so errors.As finds them. Node
// names the node, or its first output when the node is unnamed.
func CheckOps(g *graph.Graph) error {
	var errs []error
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		_, ok := graph.Lookup(n.Op)
		if ok && (n.Domain == "" || n.Domain == graph.SextantDomain) {
			continue
		}
		key := n.Domain + "." + n.Op
		if seen[key] {
			continue
		}
		seen[key] = true
		name := n.Name
		if name == "" && len(n.Outputs) > 0 && n.Outputs[0] != nil {
			name = n.Outputs[0].Name
		}
		errs = append(errs, &graph.UnsupportedOpError{Op: n.Op, Domain: n.Domain, Node: name})
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("onnx: %w", errors.Join(errs...))
}

// decodeModel is Decode without the operator check.
func decodeModel(data []byte) (*graph.Graph, error) {
	m, err := parseModel(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: model: %w", err)
	}
	if !m.hasGraph {
		return nil, errors.New("onnx: model has no graph")
	}
	g := &graph.Graph{Opset: -1}
	for _, id := range m.opsets {
		if id.version < 1 || id.version > 1<<20 {
			return nil, fmt.Errorf("onnx: opset_import %q has version %d", id.domain, id.version)
		}
		if id.domain == "" || id.domain == "ai.onnx" {
			if g.Opset >= 0 {
				return nil, errors.New("onnx: the default domain is imported twice")
			}
			g.Opset = int(id.version)
			continue
		}
		if g.Domains == nil {
			g.Domains = map[string]int{}
		}
		if _, dup := g.Domains[id.domain]; dup {
			return nil, fmt.Errorf("onnx: domain %q is imported twice", id.domain)
		}
		g.Domains[id.domain] = int(id.version)
	}
	gp, err := parseGraph(m.graph)
	if err != nil {
		return nil, fmt.Errorf("onnx: graph: %w", err)
	}
	if err := build(g, gp); err != nil {
		return nil, fmt.Errorf("onnx: graph %q: %w", gp.name, err)
	}
	if g.Opset < 0 {
		// Only models made entirely of other domains' ops (such as
		// ai.onnx.preview.training) may omit the default domain.
		for _, n := range g.Nodes {
			if n.Domain == "" {
				return nil, fmt.Errorf("onnx: %v uses the default operator set, which the model does not import", n)
			}
		}
		g.Opset = 0
	}
	return g, nil
}

// build fills g from the parsed graph: values are created for initializers,
// inputs and node outputs, then node inputs and graph outputs are resolved
// by name.
func build(g *graph.Graph, gp *graphProto) error {
	g.Name = gp.name
	values := map[string]*graph.Value{}
	define := func(v *graph.Value, what string) error {
		if v.Name == "" {
			return fmt.Errorf("%s has no name", what)
		}
		if _, dup := values[v.Name]; dup {
			return fmt.Errorf("value %q is defined twice (%s)", v.Name, what)
		}
		values[v.Name] = v
		return nil
	}
	for i, body := range gp.inits {
		name, t, err := decodeTensor(body)
		if err != nil {
			return fmt.Errorf("initializer %d: %w", i, err)
		}
		v := &graph.Value{Name: name, Type: graph.ShapeOf(t.DType, t.Shape), Const: t}
		if err := define(v, "initializer"); err != nil {
			return err
		}
		g.Initializers = append(g.Initializers, v)
	}
	for i, body := range gp.inputs {
		name, typ, err := parseValueInfo(body)
		if err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
		if v, ok := values[name]; ok && v.Const != nil {
			continue // an initializer listed as an input (IR < 4)
		}
		v := &graph.Value{Name: name, Type: typ}
		if err := define(v, "graph input"); err != nil {
			return err
		}
		g.Inputs = append(g.Inputs, v)
	}
	types := map[string]graph.Type{}
	for i, body := range gp.valueInfos {
		name, typ, err := parseValueInfo(body)
		if err != nil {
			return fmt.Errorf("value_info %d: %w", i, err)
		}
		types[name] = typ
	}
	outNames := make([]string, len(gp.outputs))
	for i, body := range gp.outputs {
		name, typ, err := parseValueInfo(body)
		if err != nil {
			return fmt.Errorf("output %d: %w", i, err)
		}
		if name == "" {
			return fmt.Errorf("output %d has no name", i)
		}
		outNames[i] = name
		if typ.DType != 0 || typ.Known {
			types[name] = typ // a graph output's own type wins over value_info
		}
	}

	// Pass 1: every node output becomes a value, so that a read of a value
	// produced by a later node can be told apart from an undefined name.
	protos := make([]*nodeProto, len(gp.nodes))
	order := map[*graph.Node]int{}
	for i, body := range gp.nodes {
		np, err := parseNode(body)
		if err != nil {
			return fmt.Errorf("node %d%s: %w", i, describe(np), err)
		}
		protos[i] = np
		n := &graph.Node{Name: np.name, Op: np.op, Domain: np.domain, Attrs: np.attrs}
		if n.Domain == "ai.onnx" {
			n.Domain = ""
		}
		order[n] = i
		n.Outputs = make([]*graph.Value, len(np.outputs))
		for j, name := range np.outputs {
			if name == "" {
				continue
			}
			v := &graph.Value{Name: name, Type: types[name], Producer: n}
			if err := define(v, fmt.Sprintf("output of node %d%s", i, describe(np))); err != nil {
				return err
			}
			n.Outputs[j] = v
		}
		g.Nodes = append(g.Nodes, n)
	}
	// Pass 2: resolve inputs, in order.
	for i, n := range g.Nodes {
		np := protos[i]
		n.Inputs = make([]*graph.Value, len(np.inputs))
		for j, name := range np.inputs {
			if name == "" {
				continue
			}
			v, ok := values[name]
			if !ok {
				return fmt.Errorf("%v: input %q is not defined", n, name)
			}
			if v.Producer != nil && order[v.Producer] >= i {
				return fmt.Errorf("%v: input %q is produced by a later node (%v); nodes must be in topological order", n, name, v.Producer)
			}
			n.Inputs[j] = v
		}
	}
	for _, name := range outNames {
		v, ok := values[name]
		if !ok {
			return fmt.Errorf("output %q is not defined", name)
		}
		g.Outputs = append(g.Outputs, v)
	}
	return nil
}

// describe names a node in an error before it is built.
func describe(np *nodeProto) string {
	switch {
	case np == nil:
		return ""
	case np.name != "":
		return fmt.Sprintf(" (%s %q)", np.op, np.name)
	case np.op != "":
		return " (" + np.op + ")"
	}
	return ""
}
