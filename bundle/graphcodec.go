package bundle

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/wire"
	"github.com/sextant-ml/sextant/tensor"
)

// Graph section wire format (protowire). Indices are 1-based where 0 must
// mean "none" (an omitted node input, a value without data), else 0-based.
//
// message Graph:
//
//	1 name         string
//	2 opset        varint
//	3 domain       repeated Domain   (non-default operator-set imports)
//	4 value        repeated Value    (every value the graph mentions; index = order)
//	5 node         repeated Node     (topological order)
//	6 input        packed varint     (value indices)
//	7 output       packed varint     (value indices)
//	8 initializer  packed varint     (value indices)
//
// message Domain: 1 name string; 2 version varint.
//
// message Value:
//
//	1 name    string
//	2 dtype   varint (tensor.DType; 0 = unknown)
//	3 known   varint (1 when the rank is known)
//	4 dim     repeated Dim
//	5 tensor  varint (1 + tensor table index of its constant data; absent = none)
//
// message Dim: 1 size sint64 (-1 = not fixed; absent = -1); 2 sym string.
//
// message Node:
//
//	1 name    string
//	2 op      string
//	3 domain  string
//	4 input   packed varint (1 + value index; 0 = omitted)
//	5 output  packed varint (1 + value index; 0 = unused)
//	6 attr    repeated Attr
//
// message Attr:
//
//	1 name     string
//	2 kind     varint (graph.AttrKind, ONNX AttributeType numbers)
//	3 f        fixed32 (float32 bits)
//	4 i        sint64
//	5 s        bytes
//	6 t        varint (1 + tensor table index)
//	7 floats   packed fixed32
//	8 ints     packed sint64
//	9 strings  repeated bytes
//
// AttrGraph attributes carry only their kind: graph.Attr has no subgraph
// field yet. Readers skip unknown fields.
const (
	gName = 1 + iota
	gOpset
	gDomain
	gValue
	gNode
	gInput
	gOutput
	gInitializer
)

const (
	domName    = 1
	domVersion = 2
)

const (
	valName = 1 + iota
	valDType
	valKnown
	valDim
	valTensor
)

const (
	dimSize = 1
	dimSym  = 2
)

const (
	nodeName = 1 + iota
	nodeOp
	nodeDomain
	nodeInput
	nodeOutput
	nodeAttr
)

const (
	attrName = 1 + iota
	attrKind
	attrF
	attrI
	attrS
	attrT
	attrFloats
	attrInts
	attrStrings
)

// tensorAdder stores a tensor in the table under a name and returns its
// index.
type tensorAdder func(name string, t *tensor.Tensor) (int, error)

// encodeGraph encodes g, calling add for every constant tensor it holds.
func encodeGraph(g *graph.Graph, add tensorAdder) ([]byte, error) {
	idx := make(map[*graph.Value]int)
	var vals []*graph.Value
	ref := func(v *graph.Value) {
		if v == nil {
			return
		}
		if _, ok := idx[v]; !ok {
			idx[v] = len(vals)
			vals = append(vals, v)
		}
	}
	for _, v := range g.Inputs {
		ref(v)
	}
	for _, v := range g.Initializers {
		ref(v)
	}
	for _, n := range g.Nodes {
		for _, v := range n.Inputs {
			ref(v)
		}
		for _, v := range n.Outputs {
			ref(v)
		}
	}
	for _, v := range g.Outputs {
		ref(v)
	}

	var b []byte
	b = appendString(b, gName, g.Name)
	b = wire.AppendVarint(b, gOpset, uint64(g.Opset))
	for _, d := range sortedKeys(g.Domains) {
		var m []byte
		m = appendString(m, domName, d)
		m = wire.AppendVarint(m, domVersion, uint64(g.Domains[d]))
		b = wire.AppendBytes(b, gDomain, m)
	}
	var m []byte
	for i, v := range vals {
		if err := checkType(v); err != nil {
			return nil, err
		}
		m = m[:0]
		m = appendString(m, valName, v.Name)
		m = wire.AppendVarint(m, valDType, uint64(v.Type.DType))
		if v.Type.Known {
			m = wire.AppendVarint(m, valKnown, 1)
		}
		for _, d := range v.Type.Shape {
			var dm []byte
			dm = protowire.AppendTag(dm, dimSize, protowire.VarintType)
			dm = protowire.AppendVarint(dm, protowire.EncodeZigZag(d.Size))
			dm = appendString(dm, dimSym, d.Sym)
			m = wire.AppendBytes(m, valDim, dm)
		}
		if v.Const != nil {
			name := v.Name
			if name == "" {
				name = fmt.Sprintf("value/%d", i)
			}
			ti, err := add(name, v.Const)
			if err != nil {
				return nil, fmt.Errorf("value %q: %w", v.Name, err)
			}
			m = wire.AppendVarint(m, valTensor, uint64(ti)+1)
		}
		b = wire.AppendBytes(b, gValue, m)
	}
	for ni, n := range g.Nodes {
		nm, err := encodeNode(n, ni, idx, add)
		if err != nil {
			return nil, err
		}
		b = wire.AppendBytes(b, gNode, nm)
	}
	list := func(vs []*graph.Value) []uint64 {
		out := make([]uint64, len(vs))
		for i, v := range vs {
			out[i] = uint64(idx[v])
		}
		return out
	}
	for _, l := range []struct {
		num protowire.Number
		vs  []*graph.Value
	}{{gInput, g.Inputs}, {gOutput, g.Outputs}, {gInitializer, g.Initializers}} {
		for _, v := range l.vs {
			if v == nil {
				return nil, fmt.Errorf("graph lists a nil value")
			}
		}
		b = wire.AppendPackedVarints(b, l.num, list(l.vs))
	}
	return b, nil
}

func encodeNode(n *graph.Node, ni int, idx map[*graph.Value]int, add tensorAdder) ([]byte, error) {
	var m []byte
	m = appendString(m, nodeName, n.Name)
	m = appendString(m, nodeOp, n.Op)
	m = appendString(m, nodeDomain, n.Domain)
	refs := func(vs []*graph.Value) []uint64 {
		out := make([]uint64, len(vs))
		for i, v := range vs {
			if v != nil {
				out[i] = uint64(idx[v]) + 1
			}
		}
		return out
	}
	m = wire.AppendPackedVarints(m, nodeInput, refs(n.Inputs))
	m = wire.AppendPackedVarints(m, nodeOutput, refs(n.Outputs))
	for _, name := range sortedKeys(n.Attrs) {
		a := n.Attrs[name]
		if a == nil {
			return nil, fmt.Errorf("%v: attribute %q is nil", n, name)
		}
		if a.Kind > graph.AttrStrings {
			return nil, fmt.Errorf("%v: attribute %q has unknown kind %d", n, name, a.Kind)
		}
		var am []byte
		am = appendString(am, attrName, name)
		am = wire.AppendVarint(am, attrKind, uint64(a.Kind))
		switch a.Kind {
		case graph.AttrFloat:
			am = protowire.AppendTag(am, attrF, protowire.Fixed32Type)
			am = protowire.AppendFixed32(am, math.Float32bits(a.Float))
		case graph.AttrInt:
			am = wire.AppendVarint(am, attrI, protowire.EncodeZigZag(a.Int))
		case graph.AttrString:
			am = protowire.AppendTag(am, attrS, protowire.BytesType)
			am = protowire.AppendString(am, a.String)
		case graph.AttrTensor:
			if a.Tensor == nil {
				return nil, fmt.Errorf("%v: tensor attribute %q has no tensor", n, name)
			}
			ti, err := add(fmt.Sprintf("attr/%d/%s", ni, name), a.Tensor)
			if err != nil {
				return nil, fmt.Errorf("%v: attribute %q: %w", n, name, err)
			}
			am = wire.AppendVarint(am, attrT, uint64(ti)+1)
		case graph.AttrFloats:
			if len(a.Floats) > 0 {
				am = protowire.AppendTag(am, attrFloats, protowire.BytesType)
				am = protowire.AppendVarint(am, uint64(4*len(a.Floats)))
				for _, f := range a.Floats {
					am = protowire.AppendFixed32(am, math.Float32bits(f))
				}
			}
		case graph.AttrInts:
			zz := make([]uint64, len(a.Ints))
			for i, v := range a.Ints {
				zz[i] = protowire.EncodeZigZag(v)
			}
			am = wire.AppendPackedVarints(am, attrInts, zz)
		case graph.AttrStrings:
			for _, s := range a.Strings {
				am = protowire.AppendTag(am, attrStrings, protowire.BytesType)
				am = protowire.AppendString(am, s)
			}
		}
		m = wire.AppendBytes(m, nodeAttr, am)
	}
	return m, nil
}

// checkType rejects what the reader would: invalid dtypes, ranks above
// maxRank, dimensions below -1.
func checkType(v *graph.Value) error {
	if dt := v.Type.DType; dt != tensor.Undefined && !dt.Valid() {
		return fmt.Errorf("value %q: unsupported dtype %v", v.Name, dt)
	}
	if len(v.Type.Shape) > maxRank {
		return fmt.Errorf("value %q: rank %d above %d", v.Name, len(v.Type.Shape), maxRank)
	}
	for _, d := range v.Type.Shape {
		if d.Size < -1 {
			return fmt.Errorf("value %q: dimension %d", v.Name, d.Size)
		}
	}
	return nil
}
