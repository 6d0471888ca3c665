package bundle

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/wire"
	"github.com/sextant-ml/sextant/tensor"
)

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// graphDecoder rebuilds a graph.Graph from the graph section. tensors holds
// the table's tensors, nil for entries not in the plain layout (the graph may
// not reference those).
type graphDecoder struct {
	tensors []*tensor.Tensor
	infos   []TensorInfo
	vals    []*graph.Value
	g       *graph.Graph
	edges   int // node inputs and outputs decoded so far
}

func decodeGraph(b []byte, infos []TensorInfo, tensors []*tensor.Tensor) (*graph.Graph, error) {
	d := &graphDecoder{tensors: tensors, infos: infos, g: &graph.Graph{}}
	if err := d.decode(b); err != nil {
		return nil, formatErr(SectionGraph, err, "bad graph")
	}
	return d.g, nil
}

func (d *graphDecoder) tensor(ref uint64) (*tensor.Tensor, error) {
	if ref == 0 || ref > uint64(len(d.tensors)) {
		return nil, fmt.Errorf("tensor reference %d outside the %d-entry table", ref, len(d.tensors))
	}
	t := d.tensors[ref-1]
	if t == nil {
		in := d.infos[ref-1]
		return nil, fmt.Errorf("tensor %q has layout %q, but the graph needs plain data", in.Name, in.Layout)
	}
	return t, nil
}

func (d *graphDecoder) value(i uint64) (*graph.Value, error) {
	if i >= uint64(len(d.vals)) {
		return nil, fmt.Errorf("value index %d outside the %d values", i, len(d.vals))
	}
	return d.vals[i], nil
}

// decode reads the message in two passes: values and scalars first, then the
// nodes and lists that refer to values by index, so field order does not
// matter and nothing is buffered.
func (d *graphDecoder) decode(b []byte) error {
	g := d.g
	err := wire.Each(b, func(f wire.Field) error {
		var err error
		switch f.Num {
		case gName:
			g.Name, err = f.Str()
		case gOpset:
			g.Opset, err = f.Int()
		case gDomain:
			err = d.domain(f)
		case gValue:
			err = d.valueMsg(f)
		}
		return err
	})
	if err != nil {
		return err
	}
	return wire.Each(b, func(f wire.Field) error {
		var list *[]*graph.Value
		switch f.Num {
		case gNode:
			return d.node(f)
		case gInput:
			list = &g.Inputs
		case gOutput:
			list = &g.Outputs
		case gInitializer:
			list = &g.Initializers
		default:
			return nil
		}
		return f.EachPacked(protowire.VarintType, func(i uint64) error {
			v, err := d.value(i)
			if err != nil {
				return err
			}
			if list == &g.Initializers && v.Const == nil {
				return fmt.Errorf("initializer %q has no data", v.Name)
			}
			*list = append(*list, v)
			return nil
		})
	})
}

func (d *graphDecoder) domain(f wire.Field) error {
	if err := f.Want(protowire.BytesType); err != nil {
		return err
	}
	var name string
	var ver int
	err := wire.Each(f.B, func(f wire.Field) error {
		var err error
		switch f.Num {
		case domName:
			name, err = f.Str()
		case domVersion:
			ver, err = f.Int()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("domain: %w", err)
	}
	if d.g.Domains == nil {
		d.g.Domains = make(map[string]int)
	}
	d.g.Domains[name] = ver
	return nil
}

func (d *graphDecoder) valueMsg(f wire.Field) error {
	if err := f.Want(protowire.BytesType); err != nil {
		return err
	}
	if len(d.vals) >= maxValues {
		return fmt.Errorf("more than %d values", maxValues)
	}
	v := &graph.Value{}
	err := wire.Each(f.B, func(f wire.Field) error {
		var err error
		switch f.Num {
		case valName:
			v.Name, err = f.Str()
		case valDType:
			var dt uint64
			if dt, err = f.Varint(); err == nil {
				if dt != 0 && (dt > math.MaxUint8 || !tensor.DType(dt).Valid()) {
					return fmt.Errorf("dtype %d", dt)
				}
				v.Type.DType = tensor.DType(dt)
			}
		case valKnown:
			var k uint64
			k, err = f.Varint()
			v.Type.Known = k != 0
		case valDim:
			if len(v.Type.Shape) >= maxRank {
				return fmt.Errorf("rank above %d", maxRank)
			}
			var dim graph.Dim
			dim, err = decodeDim(f)
			v.Type.Shape = append(v.Type.Shape, dim)
		case valTensor:
			var ref uint64
			if ref, err = f.Varint(); err == nil {
				v.Const, err = d.tensor(ref)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("value %d: %w", len(d.vals), err)
	}
	d.vals = append(d.vals, v)
	return nil
}

func decodeDim(f wire.Field) (graph.Dim, error) {
	dim := graph.Unknown()
	if err := f.Want(protowire.BytesType); err != nil {
		return dim, err
	}
	err := wire.Each(f.B, func(f wire.Field) error {
		var err error
		switch f.Num {
		case dimSize:
			var u uint64
			if u, err = f.Varint(); err == nil {
				dim.Size = protowire.DecodeZigZag(u)
				if dim.Size < -1 {
					return fmt.Errorf("dimension %d", dim.Size)
				}
			}
		case dimSym:
			dim.Sym, err = f.Str()
		}
		return err
	})
	return dim, err
}

func (d *graphDecoder) node(f wire.Field) error {
	if err := f.Want(protowire.BytesType); err != nil {
		return err
	}
	if len(d.g.Nodes) >= maxNodes {
		return fmt.Errorf("more than %d nodes", maxNodes)
	}
	n := &graph.Node{}
	err := wire.Each(f.B, func(f wire.Field) error {
		var err error
		switch f.Num {
		case nodeName:
			n.Name, err = f.Str()
		case nodeOp:
			n.Op, err = f.Str()
		case nodeDomain:
			n.Domain, err = f.Str()
		case nodeInput, nodeOutput:
			err = f.EachPacked(protowire.VarintType, func(r uint64) error {
				if d.edges++; d.edges > maxEdges {
					return fmt.Errorf("more than %d node inputs and outputs", maxEdges)
				}
				var v *graph.Value
				if r != 0 {
					var err error
					if v, err = d.value(r - 1); err != nil {
						return err
					}
				}
				if f.Num == nodeInput {
					n.Inputs = append(n.Inputs, v)
					return nil
				}
				if v != nil {
					if v.Producer != nil {
						return fmt.Errorf("value %q is produced by two nodes", v.Name)
					}
					v.Producer = n
				}
				n.Outputs = append(n.Outputs, v)
				return nil
			})
		case nodeAttr:
			err = d.attr(n, f)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("node %d: %w", len(d.g.Nodes), err)
	}
	d.g.Nodes = append(d.g.Nodes, n)
	return nil
}

func (d *graphDecoder) attr(n *graph.Node, f wire.Field) error {
	if err := f.Want(protowire.BytesType); err != nil {
		return err
	}
	a := &graph.Attr{}
	var name string
	err := wire.Each(f.B, func(f wire.Field) error {
		var err error
		switch f.Num {
		case attrName:
			name, err = f.Str()
		case attrKind:
			var k uint64
			if k, err = f.Varint(); err == nil {
				if k > uint64(graph.AttrStrings) {
					return fmt.Errorf("attribute kind %d", k)
				}
				a.Kind = graph.AttrKind(k)
			}
		case attrF:
			err = f.Want(protowire.Fixed32Type)
			a.Float = math.Float32frombits(uint32(f.V))
		case attrI:
			var u uint64
			u, err = f.Varint()
			a.Int = protowire.DecodeZigZag(u)
		case attrS:
			a.String, err = f.Str()
		case attrT:
			var ref uint64
			if ref, err = f.Varint(); err == nil {
				a.Tensor, err = d.tensor(ref)
			}
		case attrFloats:
			err = f.EachPacked(protowire.Fixed32Type, func(u uint64) error {
				a.Floats = append(a.Floats, math.Float32frombits(uint32(u)))
				return nil
			})
		case attrInts:
			err = f.EachPacked(protowire.VarintType, func(u uint64) error {
				a.Ints = append(a.Ints, protowire.DecodeZigZag(u))
				return nil
			})
		case attrStrings:
			var s string
			s, err = f.Str()
			a.Strings = append(a.Strings, s)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("attribute %q: %w", name, err)
	}
	if a.Kind == graph.AttrTensor && a.Tensor == nil {
		return fmt.Errorf("tensor attribute %q has no tensor", name)
	}
	if n.Attrs == nil {
		n.Attrs = make(map[string]*graph.Attr)
	}
	if _, dup := n.Attrs[name]; dup {
		return fmt.Errorf("attribute %q given twice", name)
	}
	n.Attrs[name] = a
	return nil
}
