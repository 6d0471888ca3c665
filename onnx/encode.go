package onnx

import (
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/graph"
)

// irVersion is the ONNX IR version Encode writes: IR 8 covers opsets up to
// 17 (onnx.proto, enum Version; onnx/helper.py VERSION_TABLE).
const irVersion = 8

// Encode serializes g as a ModelProto that Decode reads back to an equal
// graph: initializers as raw_data TensorProtos, value types as
// ValueInfoProtos (node outputs with a known type go in value_info), and
// attributes in name order. It fails on values without names, on two values
// with the same name, on initializers without data and on GRAPH attributes.
func Encode(g *graph.Graph) ([]byte, error) {
	b, err := encodeModel(g)
	if err != nil {
		return nil, fmt.Errorf("onnx: encode %q: %w", g.Name, err)
	}
	return b, nil
}

func encodeModel(g *graph.Graph) ([]byte, error) {
	if g.Opset < 0 {
		return nil, fmt.Errorf("opset %d", g.Opset)
	}
	gb, err := encodeGraph(g)
	if err != nil {
		return nil, err
	}
	var b []byte
	b = protowire.AppendTag(b, mpIRVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, irVersion)
	b = appendString(b, mpProducerName, "sextant")
	b = appendMessage(b, mpGraph, gb)
	if g.Opset > 0 {
		b = appendMessage(b, mpOpsetImport, appendOpset(nil, "", g.Opset))
	}
	domains := map[string]int{}
	for d, v := range g.Domains {
		domains[d] = v
	}
	for _, n := range g.Nodes {
		if n.Domain == "" && g.Opset == 0 {
			return nil, fmt.Errorf("%v uses the default operator set but Opset is 0", n)
		}
		if n.Domain == graph.SextantDomain {
			if _, ok := domains[n.Domain]; !ok {
				domains[n.Domain] = 1
			}
		}
	}
	for _, d := range sortedDomains(domains) {
		if d == "" || d == "ai.onnx" {
			return nil, fmt.Errorf("Domains restates the default domain %q", d)
		}
		b = appendMessage(b, mpOpsetImport, appendOpset(nil, d, domains[d]))
	}
	return b, nil
}

func appendOpset(b []byte, domain string, version int) []byte {
	b = appendString(b, osDomain, domain)
	b = protowire.AppendTag(b, osVersion, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(version))
}

func encodeGraph(g *graph.Graph) ([]byte, error) {
	defined := map[string]*graph.Value{}
	define := func(v *graph.Value, what string) error {
		if v == nil {
			return fmt.Errorf("nil %s", what)
		}
		if v.Name == "" {
			return fmt.Errorf("%s has no name", what)
		}
		if w, ok := defined[v.Name]; ok && w != v {
			return fmt.Errorf("two values are named %q", v.Name)
		}
		defined[v.Name] = v
		return nil
	}
	var b []byte
	if g.Name != "" {
		b = appendString(b, gpName, g.Name)
	}
	for _, v := range g.Initializers {
		if err := define(v, "initializer"); err != nil {
			return nil, err
		}
		if v.Const == nil {
			return nil, fmt.Errorf("initializer %q has no value", v.Name)
		}
		tb, err := appendTensor(nil, v.Name, v.Const)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", v.Name, err)
		}
		b = appendMessage(b, gpInitializer, tb)
	}
	for _, v := range g.Inputs {
		if err := define(v, "graph input"); err != nil {
			return nil, err
		}
		b = appendMessage(b, gpInput, appendValueInfo(nil, v))
	}
	isOutput := map[*graph.Value]bool{}
	for _, v := range g.Outputs {
		if v == nil || v.Name == "" {
			return nil, fmt.Errorf("graph output without a name")
		}
		isOutput[v] = true
		b = appendMessage(b, gpOutput, appendValueInfo(nil, v))
	}
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if v == nil {
				continue
			}
			if err := define(v, "output of "+n.String()); err != nil {
				return nil, err
			}
			if !isOutput[v] && (v.Type.DType != 0 || v.Type.Known) {
				b = appendMessage(b, gpValueInfo, appendValueInfo(nil, v))
			}
		}
		nb, err := appendNode(nil, n)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", n, err)
		}
		b = appendMessage(b, gpNode, nb)
	}
	return b, nil
}

func appendNode(b []byte, n *graph.Node) ([]byte, error) {
	for _, v := range n.Inputs {
		name := ""
		if v != nil {
			name = v.Name
		}
		b = appendString(b, npInput, name)
	}
	for _, v := range n.Outputs {
		name := ""
		if v != nil {
			name = v.Name
		}
		b = appendString(b, npOutput, name)
	}
	if n.Name != "" {
		b = appendString(b, npName, n.Name)
	}
	b = appendString(b, npOpType, n.Op)
	if n.Domain != "" {
		b = appendString(b, npDomain, n.Domain)
	}
	names := make([]string, 0, len(n.Attrs))
	for k := range n.Attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ab, err := appendAttr(nil, k, n.Attrs[k])
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		b = appendMessage(b, npAttribute, ab)
	}
	return b, nil
}

func appendAttr(b []byte, name string, a *graph.Attr) ([]byte, error) {
	if a == nil {
		return nil, fmt.Errorf("nil attribute")
	}
	b = appendString(b, apName, name)
	b = protowire.AppendTag(b, apType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Kind))
	switch a.Kind {
	case graph.AttrFloat:
		b = protowire.AppendTag(b, apF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.Float))
	case graph.AttrInt:
		b = protowire.AppendTag(b, apI, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.Int))
	case graph.AttrString:
		b = appendString(b, apS, a.String)
	case graph.AttrTensor:
		if a.Tensor == nil {
			return nil, fmt.Errorf("TENSOR attribute without a tensor")
		}
		tb, err := appendTensor(nil, "", a.Tensor)
		if err != nil {
			return nil, err
		}
		b = appendMessage(b, apT, tb)
	case graph.AttrFloats:
		for _, f := range a.Floats {
			b = protowire.AppendTag(b, apFloats, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case graph.AttrInts:
		for _, v := range a.Ints {
			b = protowire.AppendTag(b, apInts, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	case graph.AttrStrings:
		for _, s := range a.Strings {
			b = appendString(b, apStrings, s)
		}
	case graph.AttrGraph:
		return nil, ErrSubgraph
	default:
		return nil, fmt.Errorf("unknown attribute kind %d", a.Kind)
	}
	return b, nil
}

// appendValueInfo appends a ValueInfoProto for v; a value whose type says
// nothing gets no type field.
func appendValueInfo(b []byte, v *graph.Value) []byte {
	b = appendString(b, viName, v.Name)
	t := v.Type
	if t.DType == 0 && !t.Known {
		return b
	}
	var tt []byte
	if t.DType != 0 {
		tt = protowire.AppendTag(tt, ttElemType, protowire.VarintType)
		tt = protowire.AppendVarint(tt, uint64(t.DType))
	}
	if t.Known {
		var sb []byte
		for _, d := range t.Shape {
			var db []byte
			switch {
			case d.IsFixed():
				db = protowire.AppendTag(db, dimValue, protowire.VarintType)
				db = protowire.AppendVarint(db, uint64(d.Size))
			case d.Sym != "":
				db = appendString(db, dimParam, d.Sym)
			}
			sb = appendMessage(sb, tsDim, db)
		}
		tt = appendMessage(tt, ttShape, sb)
	}
	return appendMessage(b, viType, appendMessage(nil, tyTensor, tt))
}

// sortedDomains returns the keys of m in order.
func sortedDomains(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
