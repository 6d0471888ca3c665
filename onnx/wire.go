package onnx

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded protobuf field: its number and wire type, and its
// value (V for varint, fixed32 and fixed64 fields, B for length-delimited
// ones). B aliases the input; copy it before keeping it.
type field struct {
	Num  protowire.Number
	Type protowire.Type
	V    uint64
	B    []byte
}

// eachField calls fn for every field of the message b, in wire order.
// Groups (deprecated, unused by ONNX) are skipped.
func eachField(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{Num: num, Type: typ}
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

// want returns an error unless f has wire type t.
func (f field) want(t protowire.Type) error {
	if f.Type != t {
		return fmt.Errorf("field %d has wire type %d, want %d", f.Num, f.Type, t)
	}
	return nil
}

// int64 returns a varint field as a signed 64-bit integer.
func (f field) int64() (int64, error) {
	if err := f.want(protowire.VarintType); err != nil {
		return 0, err
	}
	return int64(f.V), nil
}

// bytes returns a length-delimited field's bytes (aliasing the input).
func (f field) bytes() ([]byte, error) {
	if err := f.want(protowire.BytesType); err != nil {
		return nil, err
	}
	return f.B, nil
}

// str returns a length-delimited field as a string (a copy).
func (f field) str() (string, error) {
	b, err := f.bytes()
	return string(b), err
}

// repeated is the wire form of a repeated scalar field: any mix of packed
// chunks and single values, as protobuf parsers must accept both
// (protobuf.dev/programming-guides/encoding/#packed).
type repeated struct {
	elem   protowire.Type // VarintType, Fixed32Type or Fixed64Type
	chunks []field
}

// add records one occurrence of the field.
func (r *repeated) add(f field) error {
	if f.Type != r.elem && f.Type != protowire.BytesType {
		return fmt.Errorf("field %d has wire type %d, want %d or packed", f.Num, f.Type, r.elem)
	}
	r.chunks = append(r.chunks, f)
	return nil
}

// count returns the number of elements, validating packed chunks.
func (r *repeated) count() (int, error) {
	n := 0
	err := r.each(func(uint64) { n++ })
	return n, err
}

// each calls fn with every element in order.
func (r *repeated) each(fn func(uint64)) error {
	for _, c := range r.chunks {
		if c.Type != protowire.BytesType {
			fn(c.V)
			continue
		}
		b := c.B
		switch r.elem {
		case protowire.VarintType:
			for len(b) > 0 {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return fmt.Errorf("packed field %d: %w", c.Num, protowire.ParseError(n))
				}
				fn(v)
				b = b[n:]
			}
		case protowire.Fixed32Type:
			if len(b)%4 != 0 {
				return fmt.Errorf("packed field %d: %d bytes is not a whole number of 4-byte values", c.Num, len(b))
			}
			for ; len(b) > 0; b = b[4:] {
				v, _ := protowire.ConsumeFixed32(b)
				fn(uint64(v))
			}
		case protowire.Fixed64Type:
			if len(b)%8 != 0 {
				return fmt.Errorf("packed field %d: %d bytes is not a whole number of 8-byte values", c.Num, len(b))
			}
			for ; len(b) > 0; b = b[8:] {
				v, _ := protowire.ConsumeFixed64(b)
				fn(v)
			}
		}
	}
	return nil
}

// int64s decodes a repeated int64 field whose element count is at most max.
func (r *repeated) int64s(max int) ([]int64, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%d values, more than the limit of %d", n, max)
	}
	out := make([]int64, 0, n)
	err = r.each(func(v uint64) { out = append(out, int64(v)) })
	return out, err
}

// float32s decodes a repeated float field.
func (r *repeated) float32s() ([]float32, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	out := make([]float32, 0, n)
	err = r.each(func(v uint64) { out = append(out, math.Float32frombits(uint32(v))) })
	return out, err
}
