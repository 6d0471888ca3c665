package tensor

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// Alignment is the byte alignment of every buffer this package allocates and
// of every tensor section in a bundle: a cache line, and enough for any SIMD
// load Sextant issues.
const Alignment = 64

// Shape is a tensor's extent along each axis, outermost first. A scalar has an
// empty shape.
type Shape []int

// NumElements is the product of the dimensions (1 for a scalar).
func (s Shape) NumElements() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Equal reports whether s and o have the same rank and dimensions.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s that shares no memory with it.
func (s Shape) Clone() Shape {
	if s == nil {
		return nil
	}
	return append(Shape{}, s...)
}

func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, d)
	}
	b.WriteByte(']')
	return b.String()
}

// Strides returns the row-major element strides of s.
func (s Shape) Strides() []int {
	st := make([]int, len(s))
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= s[i]
	}
	return st
}

// CheckedNumElements is NumElements that fails on a negative dimension or on
// a product above limit, for shapes that come from outside.
func (s Shape) CheckedNumElements(limit int) (int, error) {
	n := 1
	for _, d := range s {
		if d < 0 {
			return 0, fmt.Errorf("tensor: negative dimension in shape %v", s)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("tensor: shape %v has more than %d elements", s, limit)
		}
		n *= d
	}
	return n, nil
}

// Tensor is a dense, contiguous, row-major array.
//
// Raw holds the elements' bytes for every type but String, whose elements are
// in Strs. A Tensor does not say who owns Raw: the engine lends arena memory,
// a bundle lends memory-mapped weights (read-only: writing to them faults),
// and New allocates from the heap. Copy with Clone before keeping a tensor
// past the call that lent it.
type Tensor struct {
	DType DType
	Shape Shape
	Raw   []byte
	Strs  []string
}

// ErrShape is wrapped by errors about mismatched shapes or sizes.
var ErrShape = errors.New("tensor: shape mismatch")

// New allocates a zeroed tensor of the given type and shape with 64-byte
// aligned data.
func New(dt DType, shape ...int) *Tensor {
	t := &Tensor{DType: dt, Shape: Shape(shape).Clone()}
	n := t.Shape.NumElements()
	if dt == String {
		t.Strs = make([]string, n)
		return t
	}
	t.Raw = AlignedBytes(n * dt.Size())
	return t
}

// AlignedBytes returns a zeroed slice of n bytes whose first byte is
// Alignment-aligned.
func AlignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	buf := make([]uint64, (n+2*Alignment)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (Alignment - 1))
	return b[off : off+n : off+n]
}

// IsAligned reports whether b's first byte is aligned to a.
func IsAligned(b []byte, a int) bool {
	if len(b) == 0 {
		return true
	}
	return uintptr(unsafe.Pointer(&b[0]))%uintptr(a) == 0
}

// Len is the number of elements.
func (t *Tensor) Len() int { return t.Shape.NumElements() }

// Rank is the number of axes.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Check verifies that the data length matches the type and shape.
func (t *Tensor) Check() error {
	if !t.DType.Valid() {
		return fmt.Errorf("tensor: invalid dtype %v", t.DType)
	}
	n := t.Shape.NumElements()
	if t.DType == String {
		if len(t.Strs) != n {
			return fmt.Errorf("%w: %d strings for shape %v", ErrShape, len(t.Strs), t.Shape)
		}
		return nil
	}
	if len(t.Raw) != n*t.DType.Size() {
		return fmt.Errorf("%w: %d bytes for %v%v", ErrShape, len(t.Raw), t.DType, t.Shape)
	}
	return nil
}

// Clone returns a deep copy of t with heap-allocated, aligned data.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: t.Shape.Clone()}
	if t.Strs != nil {
		c.Strs = append([]string{}, t.Strs...)
	}
	if t.Raw != nil {
		c.Raw = AlignedBytes(len(t.Raw))
		copy(c.Raw, t.Raw)
	}
	return c
}

// Elem is the set of Go types that tensor elements are stored as. Float16 and
// BFloat16 elements are stored as their uint16 bit patterns; Bool as one byte
// holding 0 or 1.
type Elem interface {
	~float32 | ~float64 | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint8 | ~uint16 | ~uint32 | ~uint64 | ~bool
}

// Data reinterprets t's bytes as a slice of T, in place. T's size must match
// the tensor's element size (it is not otherwise checked: Float16 data may be
// read as uint16 or Float16). It panics if Raw is not aligned for T.
func Data[T Elem](t *Tensor) []T {
	return Cast[T](t.Raw)
}

// Cast reinterprets b as a slice of T in place; len(b) must be a multiple of
// T's size.
func Cast[T Elem](b []byte) []T {
	var z T
	sz := int(unsafe.Sizeof(z))
	if len(b) == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%uintptr(unsafe.Alignof(z)) != 0 {
		panic("tensor: misaligned data")
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/sz)
}

// Bytes reinterprets a slice of elements as its bytes, in place.
func Bytes[T Elem](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}

// From makes a tensor of the given shape holding a copy of data. The dtype is
// inferred from T (uint16 means Uint16; use FromRaw for Float16/BFloat16).
func From[T Elem](data []T, shape ...int) *Tensor {
	var z T
	dt := dtypeOf(any(z))
	if Shape(shape).NumElements() != len(data) {
		panic(fmt.Sprintf("tensor.From: %d elements for shape %v", len(data), shape))
	}
	t := New(dt, shape...)
	copy(t.Raw, Bytes(data))
	return t
}

// FromRaw makes a tensor over a copy of raw little-endian bytes.
func FromRaw(dt DType, shape Shape, raw []byte) (*Tensor, error) {
	t := &Tensor{DType: dt, Shape: shape.Clone(), Raw: AlignedBytes(len(raw))}
	copy(t.Raw, raw)
	return t, t.Check()
}

// Scalar makes a rank-0 tensor.
func Scalar[T Elem](v T) *Tensor { return From([]T{v}) }

func dtypeOf(v any) DType {
	switch v.(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case bool:
		return Bool
	case Float16Bits:
		return Float16
	case BFloat16Bits:
		return BFloat16
	}
	panic(fmt.Sprintf("tensor: no dtype for %T", v))
}

// Float64At returns element i converted to float64, for any numeric dtype.
// It is meant for tests, tools and reports, not for kernels.
func (t *Tensor) Float64At(i int) float64 {
	switch t.DType {
	case Float32:
		return float64(Data[float32](t)[i])
	case Float64:
		return Data[float64](t)[i]
	case Float16:
		return float64(Float16Bits(Data[uint16](t)[i]).Float32())
	case BFloat16:
		return float64(BFloat16Bits(Data[uint16](t)[i]).Float32())
	case Int8:
		return float64(Data[int8](t)[i])
	case Int16:
		return float64(Data[int16](t)[i])
	case Int32:
		return float64(Data[int32](t)[i])
	case Int64:
		return float64(Data[int64](t)[i])
	case Uint8:
		return float64(t.Raw[i])
	case Uint16:
		return float64(Data[uint16](t)[i])
	case Uint32:
		return float64(Data[uint32](t)[i])
	case Uint64:
		return float64(Data[uint64](t)[i])
	case Bool:
		if t.Raw[i] != 0 {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// Int64s returns the elements of an integer tensor as int64s (a new slice).
// It is meant for shape-like inputs (Reshape's shape, Slice's starts).
func (t *Tensor) Int64s() ([]int64, error) {
	n := t.Len()
	out := make([]int64, n)
	switch t.DType {
	case Int64:
		copy(out, Data[int64](t))
	case Int32:
		for i, v := range Data[int32](t) {
			out[i] = int64(v)
		}
	case Int16, Int8, Uint8, Uint16, Uint32:
		for i := range out {
			out[i] = int64(t.Float64At(i))
		}
	case Uint64:
		for i, v := range Data[uint64](t) {
			out[i] = int64(v)
		}
	default:
		return nil, fmt.Errorf("tensor: want an integer tensor, got %v", t.DType)
	}
	return out, nil
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%v%v", t.DType, t.Shape)
}
