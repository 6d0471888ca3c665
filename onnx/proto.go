package onnx

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/wire"
	"github.com/sextant-ml/sextant/tensor"
)

// Field numbers from onnx.proto (ONNX IR version 8, as shipped with onnx
// 1.12). Only the fields Sextant reads or writes are listed; others are
// skipped on input.
const (
	// ModelProto
	mpIRVersion       = 1
	mpProducerName    = 2
	mpProducerVersion = 3
	mpGraph           = 7
	mpOpsetImport     = 8

	// OperatorSetIdProto
	osDomain  = 1
	osVersion = 2

	// GraphProto
	gpNode              = 1
	gpName              = 2
	gpInitializer       = 5
	gpInput             = 11
	gpOutput            = 12
	gpValueInfo         = 13
	gpSparseInitializer = 15

	// NodeProto
	npInput     = 1
	npOutput    = 2
	npName      = 3
	npOpType    = 4
	npAttribute = 5
	npDomain    = 7

	// AttributeProto
	apName          = 1
	apF             = 2
	apI             = 3
	apS             = 4
	apT             = 5
	apG             = 6
	apFloats        = 7
	apInts          = 8
	apStrings       = 9
	apTensors       = 10
	apGraphs        = 11
	apTP            = 14
	apTypeProtos    = 15
	apType          = 20
	apRefAttrName   = 21
	apSparseTensor  = 22
	apSparseTensors = 23

	// ValueInfoProto
	viName = 1
	viType = 2

	// TypeProto
	tyTensor = 1
	// TypeProto.Tensor
	ttElemType = 1
	ttShape    = 2
	// TensorShapeProto
	tsDim = 1
	// TensorShapeProto.Dimension
	dimValue = 1
	dimParam = 2
)

// AttributeProto.AttributeType values beyond those graph.AttrKind names
// (onnx.proto).
const (
	attrTensors       = 9
	attrGraphs        = 10
	attrSparseTensor  = 11
	attrSparseTensors = 12
	attrTypeProto     = 13
	attrTypeProtos    = 14
)

// ErrSubgraph is wrapped by the error for a node with a GRAPH or GRAPHS
// attribute (If, Loop, Scan): Sextant does not support subgraphs.
var ErrSubgraph = errors.New("subgraphs are not supported")

// ErrNonTensorType is wrapped by the error for a value whose type is not a
// tensor (a sequence, map, optional or sparse tensor).
var ErrNonTensorType = errors.New("non-tensor types are not supported")

// modelProto is the part of a ModelProto the importer uses.
type modelProto struct {
	irVersion int64
	opsets    []opsetID
	graph     []byte
	hasGraph  bool
}

type opsetID struct {
	domain  string
	version int64
}

func parseModel(b []byte) (*modelProto, error) {
	m := &modelProto{}
	err := wire.Each(b, func(f wire.Field) error {
		var err error
		switch f.Num {
		case mpIRVersion:
			m.irVersion, err = f.Int64()
		case mpOpsetImport:
			var body []byte
			if body, err = f.Bytes(); err != nil {
				return err
			}
			var id opsetID
			err = wire.Each(body, func(f wire.Field) error {
				var err error
				switch f.Num {
				case osDomain:
					id.domain, err = f.Str()
				case osVersion:
					id.version, err = f.Int64()
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("opset_import: %w", err)
			}
			m.opsets = append(m.opsets, id)
		case mpGraph:
			m.graph, err = f.Bytes()
			m.hasGraph = true
		}
		return err
	})
	return m, err
}

// graphProto is a GraphProto split into its repeated parts, each still
// serialized.
type graphProto struct {
	name                                      string
	nodes, inits, inputs, outputs, valueInfos [][]byte
}

func parseGraph(b []byte) (*graphProto, error) {
	g := &graphProto{}
	err := wire.Each(b, func(f wire.Field) error {
		var dst *[][]byte
		switch f.Num {
		case gpName:
			var err error
			g.name, err = f.Str()
			return err
		case gpNode:
			dst = &g.nodes
		case gpInitializer:
			dst = &g.inits
		case gpInput:
			dst = &g.inputs
		case gpOutput:
			dst = &g.outputs
		case gpValueInfo:
			dst = &g.valueInfos
		case gpSparseInitializer:
			return errors.New("sparse initializers are not supported")
		default:
			return nil
		}
		body, err := f.Bytes()
		*dst = append(*dst, body)
		return err
	})
	return g, err
}

// nodeProto is a decoded NodeProto; Attrs are complete, value references are
// names.
type nodeProto struct {
	name, op, domain string
	inputs, outputs  []string
	attrs            map[string]*graph.Attr
}

func parseNode(b []byte) (*nodeProto, error) {
	n := &nodeProto{}
	var attrs [][]byte
	err := wire.Each(b, func(f wire.Field) error {
		var err error
		switch f.Num {
		case npInput:
			var s string
			s, err = f.Str()
			n.inputs = append(n.inputs, s)
		case npOutput:
			var s string
			s, err = f.Str()
			n.outputs = append(n.outputs, s)
		case npName:
			n.name, err = f.Str()
		case npOpType:
			n.op, err = f.Str()
		case npDomain:
			n.domain, err = f.Str()
		case npAttribute:
			var body []byte
			body, err = f.Bytes()
			attrs = append(attrs, body)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if n.op == "" {
		return nil, errors.New("node has no op_type")
	}
	for _, body := range attrs {
		name, a, err := parseAttr(body)
		if err != nil {
			if name != "" {
				return n, fmt.Errorf("attribute %q: %w", name, err)
			}
			return n, fmt.Errorf("attribute: %w", err)
		}
		if n.attrs == nil {
			n.attrs = make(map[string]*graph.Attr, len(attrs))
		}
		if _, dup := n.attrs[name]; dup {
			return n, fmt.Errorf("attribute %q given twice", name)
		}
		n.attrs[name] = a
	}
	return n, nil
}

// parseAttr decodes an AttributeProto. A missing type field (IR version 1)
// is inferred from which value field is set.
func parseAttr(b []byte) (string, *graph.Attr, error) {
	var (
		name       string
		kind       int64
		a          graph.Attr
		floats     = wire.Repeated{Elem: protowire.Fixed32Type}
		ints       = wire.Repeated{Elem: protowire.VarintType}
		tensorBody []byte
		seen       = map[int64]bool{} // attribute kinds whose field is present
		hasRef     bool
	)
	err := wire.Each(b, func(f wire.Field) error {
		var err error
		switch f.Num {
		case apName:
			name, err = f.Str()
		case apType:
			kind, err = f.Int64()
		case apRefAttrName:
			hasRef = true
		case apF:
			if err = f.Want(protowire.Fixed32Type); err == nil {
				a.Float = math.Float32frombits(uint32(f.V))
				seen[int64(graph.AttrFloat)] = true
			}
		case apI:
			a.Int, err = f.Int64()
			seen[int64(graph.AttrInt)] = true
		case apS:
			a.String, err = f.Str()
			seen[int64(graph.AttrString)] = true
		case apT:
			tensorBody, err = f.Bytes()
			seen[int64(graph.AttrTensor)] = true
		case apG:
			seen[int64(graph.AttrGraph)] = true
		case apFloats:
			err = floats.Add(f)
			seen[int64(graph.AttrFloats)] = true
		case apInts:
			err = ints.Add(f)
			seen[int64(graph.AttrInts)] = true
		case apStrings:
			var s string
			s, err = f.Str()
			a.Strings = append(a.Strings, s)
			seen[int64(graph.AttrStrings)] = true
		case apTensors:
			seen[attrTensors] = true
		case apGraphs:
			seen[attrGraphs] = true
		case apSparseTensor:
			seen[attrSparseTensor] = true
		case apSparseTensors:
			seen[attrSparseTensors] = true
		case apTP:
			seen[attrTypeProto] = true
		case apTypeProtos:
			seen[attrTypeProtos] = true
		}
		return err
	})
	if err != nil {
		return name, nil, err
	}
	if name == "" {
		return "", nil, errors.New("attribute has no name")
	}
	if hasRef {
		return name, nil, errors.New("attribute references (ref_attr_name) are only valid inside functions")
	}
	if kind == 0 && len(seen) == 1 {
		for k := range seen {
			kind = k
		}
	}
	switch kind {
	case int64(graph.AttrGraph), attrGraphs:
		return name, nil, ErrSubgraph
	case int64(graph.AttrFloat), int64(graph.AttrInt), int64(graph.AttrString):
	case int64(graph.AttrTensor):
		if tensorBody == nil {
			return name, nil, errors.New("TENSOR attribute without a tensor")
		}
		_, t, err := decodeTensor(tensorBody)
		if err != nil {
			return name, nil, fmt.Errorf("tensor: %w", err)
		}
		a.Tensor = t
	case int64(graph.AttrFloats):
		if a.Floats, err = floats.Float32s(); err != nil {
			return name, nil, err
		}
	case int64(graph.AttrInts):
		if a.Ints, err = ints.Int64s(math.MaxInt); err != nil {
			return name, nil, err
		}
	case int64(graph.AttrStrings):
	case attrTensors, attrSparseTensor, attrSparseTensors, attrTypeProto, attrTypeProtos:
		return name, nil, fmt.Errorf("attribute type %d is not supported", kind)
	default:
		return name, nil, fmt.Errorf("unknown attribute type %d", kind)
	}
	a.Kind = graph.AttrKind(kind)
	// Keep only the value the kind selects, so equal attributes compare
	// equal however they were written.
	keep := graph.Attr{Kind: a.Kind}
	switch a.Kind {
	case graph.AttrFloat:
		keep.Float = a.Float
	case graph.AttrInt:
		keep.Int = a.Int
	case graph.AttrString:
		keep.String = a.String
	case graph.AttrTensor:
		keep.Tensor = a.Tensor
	case graph.AttrFloats:
		keep.Floats = a.Floats
	case graph.AttrInts:
		keep.Ints = a.Ints
	case graph.AttrStrings:
		keep.Strings = a.Strings
	}
	return name, &keep, nil
}

// parseValueInfo decodes a ValueInfoProto. A value without a type gets the
// zero Type (dtype undefined, rank unknown).
func parseValueInfo(b []byte) (string, graph.Type, error) {
	var name string
	var typ graph.Type
	err := wire.Each(b, func(f wire.Field) error {
		switch f.Num {
		case viName:
			var err error
			name, err = f.Str()
			return err
		case viType:
			body, err := f.Bytes()
			if err != nil {
				return err
			}
			typ, err = parseType(body)
			return err
		}
		return nil
	})
	if err != nil && name != "" {
		err = fmt.Errorf("value %q: %w", name, err)
	}
	return name, typ, err
}

// parseType decodes a TypeProto; only tensor types are supported.
func parseType(b []byte) (graph.Type, error) {
	var typ graph.Type
	var other protowire.Number
	err := wire.Each(b, func(f wire.Field) error {
		switch f.Num {
		case tyTensor:
			body, err := f.Bytes()
			if err != nil {
				return err
			}
			typ, err = parseTensorType(body)
			return err
		case 4, 5, 8, 9: // sequence_type, map_type, sparse_tensor_type, optional_type
			other = f.Num
		}
		return nil
	})
	if err == nil && other != 0 {
		err = fmt.Errorf("%w (TypeProto field %d)", ErrNonTensorType, other)
	}
	return typ, err
}

func parseTensorType(b []byte) (graph.Type, error) {
	var typ graph.Type
	err := wire.Each(b, func(f wire.Field) error {
		switch f.Num {
		case ttElemType:
			v, err := f.Int64()
			if err != nil {
				return err
			}
			if v != 0 && (v < 0 || v > math.MaxUint8 || !tensor.DType(v).Valid()) {
				return fmt.Errorf("unsupported element type %d", v)
			}
			typ.DType = tensor.DType(v)
		case ttShape:
			body, err := f.Bytes()
			if err != nil {
				return err
			}
			typ.Known = true
			typ.Shape = []graph.Dim{}
			return wire.Each(body, func(f wire.Field) error {
				if f.Num != tsDim {
					return nil
				}
				if len(typ.Shape) == MaxRank {
					return fmt.Errorf("rank above the limit of %d", MaxRank)
				}
				body, err := f.Bytes()
				if err != nil {
					return err
				}
				d, err := parseDim(body)
				typ.Shape = append(typ.Shape, d)
				return err
			})
		}
		return nil
	})
	return typ, err
}

// parseDim decodes a TensorShapeProto.Dimension: dim_value is a fixed size,
// dim_param a symbol; neither (or a negative dim_value, which some exporters
// write for "unknown") is an unknown dimension.
func parseDim(b []byte) (graph.Dim, error) {
	d := graph.Unknown()
	err := wire.Each(b, func(f wire.Field) error {
		switch f.Num {
		case dimValue:
			v, err := f.Int64()
			if err != nil {
				return err
			}
			if v >= 0 {
				d = graph.Fixed(v)
			} else {
				d = graph.Unknown()
			}
		case dimParam:
			s, err := f.Str()
			if err != nil {
				return err
			}
			d = graph.Symbol(s)
			if s == "" {
				d = graph.Unknown()
			}
		}
		return nil
	})
	return d, err
}
