package bundle

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded protobuf field. V holds varint and fixed values, B the
// bytes of a length-delimited field (aliasing the input).
type field struct {
	Num  protowire.Number
	Type protowire.Type
	V    uint64
	B    []byte
}

// eachField calls fn for every field of message b in wire order.
func eachField(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad tag: %w", protowire.ParseError(n))
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

func (f field) want(t protowire.Type) error {
	if f.Type != t {
		return fmt.Errorf("field %d has wire type %d, want %d", f.Num, f.Type, t)
	}
	return nil
}

func (f field) str() (string, error) {
	if err := f.want(protowire.BytesType); err != nil {
		return "", err
	}
	return string(f.B), nil
}

func (f field) varint() (uint64, error) {
	return f.V, f.want(protowire.VarintType)
}

// int returns a varint field that must fit in a non-negative int.
func (f field) int() (int, error) {
	if err := f.want(protowire.VarintType); err != nil {
		return 0, err
	}
	if f.V > math.MaxInt32 {
		return 0, fmt.Errorf("field %d: %d out of range", f.Num, f.V)
	}
	return int(f.V), nil
}

// eachVarint calls fn for each element of a repeated varint field, packed or
// not.
func (f field) eachVarint(fn func(uint64) error) error {
	switch f.Type {
	case protowire.VarintType:
		return fn(f.V)
	case protowire.BytesType:
		b := f.B
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("field %d: %w", f.Num, protowire.ParseError(n))
			}
			b = b[n:]
			if err := fn(v); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("field %d has wire type %d, want varint or packed", f.Num, f.Type)
}

// eachFixed32 calls fn for each element of a repeated fixed32 field, packed
// or not.
func (f field) eachFixed32(fn func(uint32) error) error {
	switch f.Type {
	case protowire.Fixed32Type:
		return fn(uint32(f.V))
	case protowire.BytesType:
		if len(f.B)%4 != 0 {
			return fmt.Errorf("field %d: packed fixed32 of %d bytes", f.Num, len(f.B))
		}
		for b := f.B; len(b) > 0; b = b[4:] {
			v, _ := protowire.ConsumeFixed32(b)
			if err := fn(v); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("field %d has wire type %d, want fixed32 or packed", f.Num, f.Type)
}

func appendPackedVarints(b []byte, num protowire.Number, vs []uint64) []byte {
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

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
