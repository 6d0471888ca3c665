// Package tensor holds Sextant's dense tensors: element types, shapes and
// contiguous row-major data.
//
// A Tensor is a view: it owns neither its shape's backing array nor its data
// unless it was made by New. Data lives in a byte slice that may come from the
// Go heap, from an engine arena or from a memory-mapped bundle; typed access
// reinterprets those bytes in place (see Data), so weights are never copied.
// Multi-byte elements are stored in the machine's native byte order, which on
// every target Sextant supports (amd64, arm64) is little-endian, the order of
// ONNX raw_data and of .sxm files.
//
// # Element types
//
// DType values are the ONNX TensorProto.DataType numbers (onnx.proto,
// "enum DataType"), so they can be stored in files and compared with ONNX
// models directly.
//
// # Broadcasting
//
// BroadcastShapes and BroadcastStrides implement NumPy's rules
// (numpy.org/doc/stable/user/basics.broadcasting.html), which ONNX adopts for
// its multidirectional broadcasting.
package tensor

import "fmt"

// DType is an element type. Its value is the ONNX TensorProto.DataType number.
type DType uint8

// The element types. Numbers from onnx.proto (TensorProto.DataType).
const (
	Undefined DType = 0
	Float32   DType = 1
	Uint8     DType = 2
	Int8      DType = 3
	Uint16    DType = 4
	Int16     DType = 5
	Int32     DType = 6
	Int64     DType = 7
	String    DType = 8
	Bool      DType = 9
	Float16   DType = 10
	Float64   DType = 11
	Uint32    DType = 12
	Uint64    DType = 13
	BFloat16  DType = 16
)

var dtypeInfo = [...]struct {
	name string
	size int
}{
	Undefined: {"undefined", 0},
	Float32:   {"float32", 4},
	Uint8:     {"uint8", 1},
	Int8:      {"int8", 1},
	Uint16:    {"uint16", 2},
	Int16:     {"int16", 2},
	Int32:     {"int32", 4},
	Int64:     {"int64", 8},
	String:    {"string", 0},
	Bool:      {"bool", 1},
	Float16:   {"float16", 2},
	Float64:   {"float64", 8},
	Uint32:    {"uint32", 4},
	Uint64:    {"uint64", 8},
	14:        {"", 0}, // complex64: not supported
	15:        {"", 0}, // complex128: not supported
	BFloat16:  {"bfloat16", 2},
}

// Valid reports whether d is an element type Sextant supports.
func (d DType) Valid() bool {
	return int(d) < len(dtypeInfo) && d != Undefined && dtypeInfo[d].name != ""
}

// Size is the number of bytes one element occupies; 0 for String and for
// invalid types.
func (d DType) Size() int {
	if int(d) >= len(dtypeInfo) {
		return 0
	}
	return dtypeInfo[d].size
}

// String returns the type's lower-case name, e.g. "float32".
func (d DType) String() string {
	if int(d) < len(dtypeInfo) && dtypeInfo[d].name != "" {
		return dtypeInfo[d].name
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	switch d {
	case Float32, Float64, Float16, BFloat16:
		return true
	}
	return false
}

// IsInt reports whether d is a signed or unsigned integer type.
func (d DType) IsInt() bool {
	switch d {
	case Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64:
		return true
	}
	return false
}

// IsSigned reports whether d can hold negative values.
func (d DType) IsSigned() bool {
	switch d {
	case Int8, Int16, Int32, Int64, Float32, Float64, Float16, BFloat16:
		return true
	}
	return false
}

// ParseDType returns the type with the given name, as printed by String, or
// one of the NumPy aliases ("float", "double", "half", "bool_").
func ParseDType(name string) (DType, error) {
	switch name {
	case "float":
		return Float32, nil
	case "double":
		return Float64, nil
	case "half":
		return Float16, nil
	case "bool_":
		return Bool, nil
	}
	for i, in := range dtypeInfo {
		if in.name == name && DType(i) != Undefined {
			return DType(i), nil
		}
	}
	return Undefined, fmt.Errorf("tensor: unknown dtype %q", name)
}
