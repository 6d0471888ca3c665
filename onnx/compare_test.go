package onnx

import (
	"bytes"
	"fmt"
	"math"
	"sort"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// diffGraphs returns a description of the first difference between a and b,
// or "" when they are equal: same names, opsets, domains, node order, ops,
// attributes (floats compared bit for bit), value names and types, and
// initializer contents.
func diffGraphs(a, b *graph.Graph) string {
	if a.Name != b.Name || a.Opset != b.Opset {
		return fmt.Sprintf("name/opset %q/%d vs %q/%d", a.Name, a.Opset, b.Name, b.Opset)
	}
	if len(a.Domains) != len(b.Domains) {
		return fmt.Sprintf("domains %v vs %v", a.Domains, b.Domains)
	}
	for k, v := range a.Domains {
		if b.Domains[k] != v {
			return fmt.Sprintf("domains %v vs %v", a.Domains, b.Domains)
		}
	}
	if d := diffValues("input", a.Inputs, b.Inputs); d != "" {
		return d
	}
	if d := diffValues("output", a.Outputs, b.Outputs); d != "" {
		return d
	}
	if d := diffValues("initializer", a.Initializers, b.Initializers); d != "" {
		return d
	}
	if len(a.Nodes) != len(b.Nodes) {
		return fmt.Sprintf("%d nodes vs %d", len(a.Nodes), len(b.Nodes))
	}
	for i := range a.Nodes {
		if d := diffNodes(a.Nodes[i], b.Nodes[i]); d != "" {
			return fmt.Sprintf("node %d: %s", i, d)
		}
	}
	return ""
}

func diffNodes(a, b *graph.Node) string {
	if a.Name != b.Name || a.Op != b.Op || a.Domain != b.Domain {
		return fmt.Sprintf("%s/%s/%s vs %s/%s/%s", a.Name, a.Domain, a.Op, b.Name, b.Domain, b.Op)
	}
	if d := diffValues("input", a.Inputs, b.Inputs); d != "" {
		return d
	}
	if d := diffValues("output", a.Outputs, b.Outputs); d != "" {
		return d
	}
	if len(a.Attrs) != len(b.Attrs) {
		return fmt.Sprintf("attributes %v vs %v", attrNames(a), attrNames(b))
	}
	for k, x := range a.Attrs {
		y, ok := b.Attrs[k]
		if !ok {
			return fmt.Sprintf("attribute %q missing", k)
		}
		if d := diffAttrs(x, y); d != "" {
			return fmt.Sprintf("attribute %q: %s", k, d)
		}
	}
	return ""
}

func attrNames(n *graph.Node) []string {
	var ks []string
	for k := range n.Attrs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func diffAttrs(a, b *graph.Attr) string {
	if a.Kind != b.Kind || a.Int != b.Int || a.String != b.String ||
		math.Float32bits(a.Float) != math.Float32bits(b.Float) {
		return fmt.Sprintf("%+v vs %+v", *a, *b)
	}
	if len(a.Floats) != len(b.Floats) || len(a.Ints) != len(b.Ints) || len(a.Strings) != len(b.Strings) {
		return "list lengths differ"
	}
	for i := range a.Floats {
		if math.Float32bits(a.Floats[i]) != math.Float32bits(b.Floats[i]) {
			return fmt.Sprintf("floats[%d] %v vs %v", i, a.Floats[i], b.Floats[i])
		}
	}
	for i := range a.Ints {
		if a.Ints[i] != b.Ints[i] {
			return fmt.Sprintf("ints[%d] %v vs %v", i, a.Ints[i], b.Ints[i])
		}
	}
	for i := range a.Strings {
		if a.Strings[i] != b.Strings[i] {
			return fmt.Sprintf("strings[%d] %q vs %q", i, a.Strings[i], b.Strings[i])
		}
	}
	if (a.Tensor == nil) != (b.Tensor == nil) {
		return "tensor presence differs"
	}
	if a.Tensor != nil {
		return diffTensors(a.Tensor, b.Tensor)
	}
	return ""
}

func diffValues(what string, a, b []*graph.Value) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d %ss vs %d", len(a), what, len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if (x == nil) != (y == nil) {
			return fmt.Sprintf("%s %d: nil vs non-nil", what, i)
		}
		if x == nil {
			continue
		}
		if x.Name != y.Name {
			return fmt.Sprintf("%s %d: name %q vs %q", what, i, x.Name, y.Name)
		}
		if !sameType(x.Type, y.Type) {
			return fmt.Sprintf("%s %q: type %v vs %v", what, x.Name, x.Type, y.Type)
		}
		if (x.Const == nil) != (y.Const == nil) {
			return fmt.Sprintf("%s %q: constness differs", what, x.Name)
		}
		if x.Const != nil {
			if d := diffTensors(x.Const, y.Const); d != "" {
				return fmt.Sprintf("%s %q: %s", what, x.Name, d)
			}
		}
	}
	return ""
}

func sameType(a, b graph.Type) bool {
	if a.DType != b.DType || a.Known != b.Known {
		return false
	}
	if !a.Known {
		return true
	}
	if len(a.Shape) != len(b.Shape) {
		return false
	}
	for i := range a.Shape {
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	return true
}

func diffTensors(a, b *tensor.Tensor) string {
	if a.DType != b.DType || !a.Shape.Equal(b.Shape) {
		return fmt.Sprintf("tensor %v vs %v", a, b)
	}
	if !bytes.Equal(a.Raw, b.Raw) {
		return fmt.Sprintf("tensor %v: data differs", a)
	}
	if len(a.Strs) != len(b.Strs) {
		return fmt.Sprintf("tensor %v: %d strings vs %d", a, len(a.Strs), len(b.Strs))
	}
	for i := range a.Strs {
		if a.Strs[i] != b.Strs[i] {
			return fmt.Sprintf("tensor %v: string %d differs", a, i)
		}
	}
	if !tensor.IsAligned(a.Raw, tensor.Alignment) || !tensor.IsAligned(b.Raw, tensor.Alignment) {
		return "tensor data not 64-byte aligned"
	}
	return ""
}
