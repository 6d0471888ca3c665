package bundle

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/internal/wire"
	"github.com/sextant-ml/sextant/tensor"
)

const alignment = tensor.Alignment

// PlainLayout is the layout of plain row-major tensor data.
const PlainLayout = ""

// TensorInfo describes one entry of a bundle's tensor table.
type TensorInfo struct {
	// Name identifies the tensor: an initializer's value name, "golden/in/x",
	// "attr/<node index>/<attribute>" for a tensor-valued attribute, or any
	// name a writer chose for an extra tensor. Name and Layout together are
	// unique within a bundle.
	Name string
	// DType and Shape are the tensor's logical element type and shape, also
	// for packed layouts.
	DType tensor.DType
	Shape tensor.Shape
	// Offset is the position of the data from the start of the file (not of
	// the data section); it is a multiple of tensor.Alignment.
	Offset uint64
	// Length is the number of bytes of data.
	Length uint64
	// Layout is PlainLayout ("") for row-major data, else the name of a
	// kernel packing, preserved and reported even when this package does not
	// know it.
	Layout string
}

// Tensor table wire format (protowire), message Table:
//
//	1 entry  repeated Entry
//
// message Entry:
//
//	1 name    string
//	2 dtype   varint (tensor.DType, the ONNX number)
//	3 shape   packed varint (dimensions, each >= 0)
//	4 offset  varint (from the start of the data section)
//	5 length  varint (bytes)
//	6 layout  string ("" when absent)
//
// Readers skip fields they do not know.
const (
	tabEntry = 1

	entName   = 1
	entDType  = 2
	entShape  = 3
	entOffset = 4
	entLength = 5
	entLayout = 6
)

// appendTable encodes the table; offsets are relative to dataOff.
func appendTable(b []byte, ts []TensorInfo, dataOff uint64) []byte {
	var e []byte
	for _, t := range ts {
		e = e[:0]
		e = appendString(e, entName, t.Name)
		e = protowire.AppendTag(e, entDType, protowire.VarintType)
		e = protowire.AppendVarint(e, uint64(t.DType))
		if len(t.Shape) > 0 {
			var p []byte
			for _, d := range t.Shape {
				p = protowire.AppendVarint(p, uint64(d))
			}
			e = protowire.AppendTag(e, entShape, protowire.BytesType)
			e = protowire.AppendBytes(e, p)
		}
		e = protowire.AppendTag(e, entOffset, protowire.VarintType)
		e = protowire.AppendVarint(e, t.Offset-dataOff)
		e = protowire.AppendTag(e, entLength, protowire.VarintType)
		e = protowire.AppendVarint(e, t.Length)
		e = appendString(e, entLayout, t.Layout)
		b = protowire.AppendTag(b, tabEntry, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// parseTable decodes and checks the tensor table against the data section.
func parseTable(b []byte, data Span) ([]TensorInfo, map[tableKey]int, error) {
	var ts []TensorInfo
	seen := make(map[tableKey]int)
	err := wire.Each(b, func(f wire.Field) error {
		if f.Num != tabEntry {
			return nil
		}
		if f.Type != protowire.BytesType {
			return fmt.Errorf("entry has wire type %d", f.Type)
		}
		if len(ts) >= maxTensors {
			return fmt.Errorf("more than %d tensors", maxTensors)
		}
		t, err := parseEntry(f.B, data)
		if err != nil {
			return fmt.Errorf("entry %d: %w", len(ts), err)
		}
		k := tableKey{t.Name, t.Layout}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("entry %d: duplicate tensor %q (layout %q)", len(ts), t.Name, t.Layout)
		}
		seen[k] = len(ts)
		ts = append(ts, t)
		return nil
	})
	if err != nil {
		return nil, nil, formatErr(SectionTable, err, "bad tensor table")
	}
	return ts, seen, nil
}

type tableKey struct{ name, layout string }

func parseEntry(b []byte, data Span) (TensorInfo, error) {
	var t TensorInfo
	var rel uint64
	err := wire.Each(b, func(f wire.Field) error {
		var err error
		switch f.Num {
		case entName:
			t.Name, err = f.Str()
		case entDType:
			if f.V > math.MaxUint8 {
				return fmt.Errorf("dtype %d", f.V)
			}
			t.DType = tensor.DType(f.V)
		case entShape:
			err = f.EachPacked(protowire.VarintType, func(v uint64) error {
				if len(t.Shape) >= maxRank {
					return fmt.Errorf("rank above %d", maxRank)
				}
				if v > math.MaxInt32 {
					return fmt.Errorf("dimension %d too large", v)
				}
				t.Shape = append(t.Shape, int(v))
				return nil
			})
		case entOffset:
			rel, err = f.Varint()
		case entLength:
			t.Length, err = f.Varint()
		case entLayout:
			t.Layout, err = f.Str()
		}
		return err
	})
	if err != nil {
		return t, err
	}
	if !t.DType.Valid() {
		return t, fmt.Errorf("tensor %q: unsupported dtype %v", t.Name, t.DType)
	}
	if rel%alignment != 0 {
		return t, fmt.Errorf("tensor %q: offset %d is not %d-byte aligned", t.Name, rel, alignment)
	}
	if rel > data.Length || t.Length > data.Length-rel {
		return t, fmt.Errorf("tensor %q: bytes [%d, %d+%d) outside the %d-byte data section", t.Name, rel, rel, t.Length, data.Length)
	}
	t.Offset = data.Offset + rel
	n, err := t.Shape.CheckedNumElements(math.MaxInt64 / 8)
	if err != nil {
		return t, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	switch {
	case t.Layout != PlainLayout:
		// A packing this package does not interpret: any length will do.
	case t.DType == tensor.String:
		if uint64(n) > t.Length && n > 0 {
			return t, fmt.Errorf("tensor %q: %d strings cannot fit in %d bytes", t.Name, n, t.Length)
		}
	default:
		if want := uint64(n) * uint64(t.DType.Size()); want != t.Length {
			return t, fmt.Errorf("tensor %q: %v%v needs %d bytes, table says %d", t.Name, t.DType, t.Shape, want, t.Length)
		}
	}
	return t, nil
}

// appendStrings encodes a string tensor's elements: each a uvarint length
// then its bytes.
func appendStrings(b []byte, ss []string) []byte {
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// parseStrings decodes n strings that must fill b exactly. The result is a
// copy: Go strings must not alias memory the caller may unmap.
func parseStrings(b []byte, n int) ([]string, error) {
	if n > len(b) && n > 0 {
		return nil, fmt.Errorf("%d strings cannot fit in %d bytes", n, len(b))
	}
	out := make([]string, n)
	for i := range out {
		l, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("string %d: bad length", i)
		}
		b = b[k:]
		if l > uint64(len(b)) || l > maxStringElem {
			return nil, fmt.Errorf("string %d: length %d exceeds the %d bytes left", i, l, len(b))
		}
		out[i] = string(b[:l])
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the last string", len(b))
	}
	return out, nil
}
