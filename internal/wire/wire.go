// Package wire walks protobuf wire-format messages field by field, for the
// hand-written decoders of ONNX models (package onnx) and of .sxm graph
// sections (package bundle). It sits on protowire and adds the checks both
// need: every length is bounded by the bytes present, repeated scalars are
// accepted packed or not, and every error names the field.
package wire

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field is one decoded field: its number and wire type, and its value (V for
// varint, fixed32 and fixed64 fields, B for length-delimited ones). B aliases
// the input; copy it before keeping it.
type Field struct {
	Num  protowire.Number
	Type protowire.Type
	V    uint64
	B    []byte
}

// Each calls fn for every field of message b, in wire order. Groups
// (deprecated, unused by ONNX and .sxm) are skipped.
func Each(b []byte, fn func(Field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		f := Field{Num: num, Type: typ}
		switch typ {
		case protowire.VarintType:
			f.V, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.V = uint64(v)
		case protowire.Fixed64Type:
			f.V, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.B, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// Want returns an error unless f has wire type t.
func (f Field) Want(t protowire.Type) error {
	if f.Type != t {
		return fmt.Errorf("field %d has wire type %d, want %d", f.Num, f.Type, t)
	}
	return nil
}

// Bytes returns a length-delimited field's bytes (aliasing the input).
func (f Field) Bytes() ([]byte, error) {
	if err := f.Want(protowire.BytesType); err != nil {
		return nil, err
	}
	return f.B, nil
}

// Str returns a length-delimited field as a string (a copy).
func (f Field) Str() (string, error) {
	b, err := f.Bytes()
	return string(b), err
}

// Varint returns a varint field's value.
func (f Field) Varint() (uint64, error) {
	return f.V, f.Want(protowire.VarintType)
}

// Int64 returns a varint field as a signed 64-bit integer.
func (f Field) Int64() (int64, error) {
	if err := f.Want(protowire.VarintType); err != nil {
		return 0, err
	}
	return int64(f.V), nil
}

// Int returns a varint field that must lie in [0, MaxInt32], for counts and
// sizes.
func (f Field) Int() (int, error) {
	if err := f.Want(protowire.VarintType); err != nil {
		return 0, err
	}
	if f.V > math.MaxInt32 {
		return 0, fmt.Errorf("field %d: %d out of range", f.Num, f.V)
	}
	return int(f.V), nil
}

// Repeated collects the occurrences of a repeated scalar field: any mix of
// packed chunks and single values, as protobuf parsers must accept both
// (protobuf.dev/programming-guides/encoding/#packed).
type Repeated struct {
	Elem   protowire.Type // VarintType, Fixed32Type or Fixed64Type
	chunks []Field
}

// Add records one occurrence of the field.
func (r *Repeated) Add(f Field) error {
	if f.Type != r.Elem && f.Type != protowire.BytesType {
		return fmt.Errorf("field %d has wire type %d, want %d or packed", f.Num, f.Type, r.Elem)
	}
	r.chunks = append(r.chunks, f)
	return nil
}

// Count returns the number of elements, validating packed chunks.
func (r *Repeated) Count() (int, error) {
	n := 0
	err := r.Each(func(uint64) error { n++; return nil })
	return n, err
}

// Each calls fn with every element in order.
func (r *Repeated) Each(fn func(uint64) error) error {
	for _, c := range r.chunks {
		if c.Type != protowire.BytesType {
			if err := fn(c.V); err != nil {
				return err
			}
			continue
		}
		if err := eachPacked(c, r.Elem, fn); err != nil {
			return err
		}
	}
	return nil
}

// EachPacked calls fn for each element of one occurrence of a repeated field
// of element type elem, packed or not.
func (f Field) EachPacked(elem protowire.Type, fn func(uint64) error) error {
	if f.Type == elem {
		return fn(f.V)
	}
	if f.Type != protowire.BytesType {
		return fmt.Errorf("field %d has wire type %d, want %d or packed", f.Num, f.Type, elem)
	}
	return eachPacked(f, elem, fn)
}

func eachPacked(c Field, elem protowire.Type, fn func(uint64) error) error {
	b := c.B
	switch elem {
	case protowire.VarintType:
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("packed field %d: %w", c.Num, protowire.ParseError(n))
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[n:]
		}
	case protowire.Fixed32Type:
		if len(b)%4 != 0 {
			return fmt.Errorf("packed field %d: %d bytes is not a whole number of 4-byte values", c.Num, len(b))
		}
		for ; len(b) > 0; b = b[4:] {
			v, _ := protowire.ConsumeFixed32(b)
			if err := fn(uint64(v)); err != nil {
				return err
			}
		}
	case protowire.Fixed64Type:
		if len(b)%8 != 0 {
			return fmt.Errorf("packed field %d: %d bytes is not a whole number of 8-byte values", c.Num, len(b))
		}
		for ; len(b) > 0; b = b[8:] {
			v, _ := protowire.ConsumeFixed64(b)
			if err := fn(v); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("field %d: wire type %d cannot be packed", c.Num, elem)
	}
	return nil
}

// Int64s decodes a repeated int64 field whose element count is at most max.
func (r *Repeated) Int64s(max int) ([]int64, error) {
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%d values, more than the limit of %d", n, max)
	}
	out := make([]int64, 0, n)
	err = r.Each(func(v uint64) error { out = append(out, int64(v)); return nil })
	return out, err
}

// Float32s decodes a repeated float field (its count is bounded by the
// input's size: four bytes per element).
func (r *Repeated) Float32s() ([]float32, error) {
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	out := make([]float32, 0, n)
	err = r.Each(func(v uint64) error { out = append(out, math.Float32frombits(uint32(v))); return nil })
	return out, err
}

// AppendPackedVarints appends a packed repeated varint field (nothing when
// vs is empty).
func AppendPackedVarints(b []byte, num protowire.Number, vs []uint64) []byte {
	if len(vs) == 0 {
		return b
	}
	n := 0
	for _, v := range vs {
		n += protowire.SizeVarint(v)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return b
}

// AppendVarint appends a varint field.
func AppendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// AppendBytes appends a length-delimited field (a message, string or bytes).
func AppendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// AppendString appends a string field.
func AppendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// Occurrences is the number of times the field appeared (packed chunks and
// single values alike).
func (r *Repeated) Occurrences() int { return len(r.chunks) }
