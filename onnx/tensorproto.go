package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/internal/wire"
	"github.com/sextant-ml/sextant/tensor"
)

// Limits on what a file may ask for. Every allocation the decoder makes is
// also backed by bytes of the input: a tensor's element count must match the
// data it carries before its buffer is allocated.
const (
	// MaxRank is the largest tensor or value rank accepted.
	MaxRank = 16
	// maxElements bounds a tensor's element count so that count × element
	// size cannot overflow an int.
	maxElements = math.MaxInt / 16
)

// ErrExternalData is wrapped by the error for a tensor whose data lives in
// a separate file (TensorProto.data_location = EXTERNAL), which Sextant does
// not read.
var ErrExternalData = errors.New("onnx: external tensor data is not supported")

// TensorProto field numbers (onnx.proto, message TensorProto).
const (
	tpDims         = 1
	tpDataType     = 2
	tpSegment      = 3
	tpFloatData    = 4
	tpInt32Data    = 5
	tpStringData   = 6
	tpInt64Data    = 7
	tpName         = 8
	tpRawData      = 9
	tpDoubleData   = 10
	tpUint64Data   = 11
	tpDocString    = 12
	tpExternalData = 13
	tpDataLocation = 14
)

// tensorFields holds a TensorProto's fields as they appear on the wire,
// before the data type (which may come after the data) is known.
type tensorFields struct {
	name       string
	dims       wire.Repeated
	dataType   int64
	raw        []byte
	hasRaw     bool
	floats     wire.Repeated // float_data: fixed32
	int32s     wire.Repeated // int32_data: varint
	int64s     wire.Repeated // int64_data: varint
	doubles    wire.Repeated // double_data: fixed64
	uint64s    wire.Repeated // uint64_data: varint
	strs       [][]byte
	external   bool
	hasSegment bool
}

// DecodeTensor decodes a serialized TensorProto, as stored in the ONNX
// backend tests' input_N.pb and output_N.pb files. The returned tensor's data
// is a fresh 64-byte-aligned copy.
func DecodeTensor(data []byte) (name string, t *tensor.Tensor, err error) {
	name, t, err = decodeTensor(data)
	if err != nil {
		return "", nil, fmt.Errorf("onnx: tensor: %w", err)
	}
	return name, t, nil
}

func decodeTensor(b []byte) (string, *tensor.Tensor, error) {
	tf := tensorFields{
		dims:    wire.Repeated{Elem: protowire.VarintType},
		floats:  wire.Repeated{Elem: protowire.Fixed32Type},
		int32s:  wire.Repeated{Elem: protowire.VarintType},
		int64s:  wire.Repeated{Elem: protowire.VarintType},
		doubles: wire.Repeated{Elem: protowire.Fixed64Type},
		uint64s: wire.Repeated{Elem: protowire.VarintType},
	}
	err := wire.Each(b, func(f wire.Field) error {
		var err error
		switch f.Num {
		case tpDims:
			err = tf.dims.Add(f)
		case tpDataType:
			tf.dataType, err = f.Int64()
		case tpSegment:
			tf.hasSegment = true
		case tpFloatData:
			err = tf.floats.Add(f)
		case tpInt32Data:
			err = tf.int32s.Add(f)
		case tpStringData:
			var s []byte
			s, err = f.Bytes()
			tf.strs = append(tf.strs, s)
		case tpInt64Data:
			err = tf.int64s.Add(f)
		case tpName:
			tf.name, err = f.Str()
		case tpRawData:
			tf.raw, err = f.Bytes()
			tf.hasRaw = true
		case tpDoubleData:
			err = tf.doubles.Add(f)
		case tpUint64Data:
			err = tf.uint64s.Add(f)
		case tpDataLocation:
			var v int64
			v, err = f.Int64()
			tf.external = v == 1 // DataLocation.EXTERNAL
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	t, err := tf.build()
	if err != nil {
		if tf.name != "" {
			err = fmt.Errorf("%q: %w", tf.name, err)
		}
		return "", nil, err
	}
	return tf.name, t, nil
}

// build checks the fields against each other and makes the tensor.
func (tf *tensorFields) build() (*tensor.Tensor, error) {
	if tf.external {
		return nil, ErrExternalData
	}
	if tf.hasSegment {
		return nil, errors.New("segmented tensors are not supported")
	}
	if tf.dataType <= 0 || tf.dataType > math.MaxUint8 || !tensor.DType(tf.dataType).Valid() {
		return nil, fmt.Errorf("unsupported data type %d", tf.dataType)
	}
	dt := tensor.DType(tf.dataType)
	dims, err := tf.dims.Int64s(MaxRank)
	if err != nil {
		return nil, fmt.Errorf("dims: %w", err)
	}
	shape := make(tensor.Shape, len(dims))
	for i, d := range dims {
		if d < 0 || d > maxElements {
			return nil, fmt.Errorf("dimension %d is %d", i, d)
		}
		shape[i] = int(d)
	}
	n, err := shape.CheckedNumElements(maxElements)
	if err != nil {
		return nil, err
	}
	t := &tensor.Tensor{DType: dt, Shape: shape}

	if dt == tensor.String {
		if tf.hasRaw || tf.typedCount() > 0 {
			return nil, errors.New("string tensor with numeric data fields")
		}
		if len(tf.strs) != n {
			return nil, fmt.Errorf("%d strings for shape %v", len(tf.strs), shape)
		}
		t.Strs = make([]string, n)
		for i, s := range tf.strs {
			t.Strs[i] = string(s)
		}
		return t, nil
	}
	if len(tf.strs) > 0 {
		return nil, fmt.Errorf("%v tensor with string_data", dt)
	}
	if tf.hasRaw {
		if tf.typedCount() > 0 {
			return nil, errors.New("both raw_data and typed data fields are set")
		}
		if len(tf.raw) != n*dt.Size() {
			return nil, fmt.Errorf("raw_data has %d bytes, %v%v needs %d", len(tf.raw), dt, shape, n*dt.Size())
		}
		t.Raw = tensor.AlignedBytes(len(tf.raw))
		copy(t.Raw, tf.raw)
		if dt == tensor.Bool {
			for i, v := range t.Raw {
				if v != 0 {
					t.Raw[i] = 1
				}
			}
		}
		return t, nil
	}
	if err := tf.decodeTyped(t, n); err != nil {
		return nil, err
	}
	return t, nil
}

// typedCount is the number of typed data field occurrences present.
func (tf *tensorFields) typedCount() int {
	return tf.floats.Occurrences() + tf.int32s.Occurrences() + tf.int64s.Occurrences() +
		tf.doubles.Occurrences() + tf.uint64s.Occurrences()
}

// decodeTyped fills t from the typed field the spec assigns to its type
// (onnx.proto, TensorProto.float_data ... uint64_data): float_data for
// FLOAT; int32_data for INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16 and
// BFLOAT16 (16-bit floats as their bit patterns); int64_data for INT64;
// double_data for DOUBLE; uint64_data for UINT32 and UINT64.
func (tf *tensorFields) decodeTyped(t *tensor.Tensor, n int) error {
	var src *wire.Repeated
	var srcName string
	switch t.DType {
	case tensor.Float32:
		src, srcName = &tf.floats, "float_data"
	case tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint16, tensor.Uint8,
		tensor.Bool, tensor.Float16, tensor.BFloat16:
		src, srcName = &tf.int32s, "int32_data"
	case tensor.Int64:
		src, srcName = &tf.int64s, "int64_data"
	case tensor.Float64:
		src, srcName = &tf.doubles, "double_data"
	case tensor.Uint32, tensor.Uint64:
		src, srcName = &tf.uint64s, "uint64_data"
	default:
		return fmt.Errorf("no typed data field for %v", t.DType)
	}
	if tf.typedCount() != src.Occurrences() {
		return fmt.Errorf("%v tensor has data in a field other than %s", t.DType, srcName)
	}
	count, err := src.Count()
	if err != nil {
		return fmt.Errorf("%s: %w", srcName, err)
	}
	if count != n {
		return fmt.Errorf("%s has %d values, %v%v needs %d", srcName, count, t.DType, t.Shape, n)
	}
	sz := t.DType.Size()
	t.Raw = tensor.AlignedBytes(n * sz)
	raw := t.Raw
	i := 0
	var put func(v uint64)
	switch sz {
	case 1:
		put = func(v uint64) { raw[i] = byte(v) }
		if t.DType == tensor.Bool {
			put = func(v uint64) {
				if uint32(v) != 0 {
					raw[i] = 1
				}
			}
		}
	case 2:
		put = func(v uint64) { binary.LittleEndian.PutUint16(raw[2*i:], uint16(v)) }
	case 4:
		put = func(v uint64) { binary.LittleEndian.PutUint32(raw[4*i:], uint32(v)) }
	case 8:
		put = func(v uint64) { binary.LittleEndian.PutUint64(raw[8*i:], v) }
	}
	return src.Each(func(v uint64) error {
		put(v)
		i++
		return nil
	})
}

// appendTensor appends t as a TensorProto message body named name. Numeric
// data goes in raw_data (little-endian, as the tensor holds it); strings go
// in string_data.
func appendTensor(b []byte, name string, t *tensor.Tensor) ([]byte, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	if t.Rank() > MaxRank {
		return nil, fmt.Errorf("rank %d is above the limit of %d", t.Rank(), MaxRank)
	}
	for _, d := range t.Shape {
		b = protowire.AppendTag(b, tpDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, tpDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.DType))
	if name != "" {
		b = appendString(b, tpName, name)
	}
	if t.DType == tensor.String {
		for _, s := range t.Strs {
			b = appendString(b, tpStringData, s)
		}
		return b, nil
	}
	b = protowire.AppendTag(b, tpRawData, protowire.BytesType)
	return protowire.AppendBytes(b, t.Raw), nil
}

// EncodeTensor serializes t as a TensorProto named name (raw_data for numeric
// tensors), the form DecodeTensor reads.
func EncodeTensor(name string, t *tensor.Tensor) ([]byte, error) {
	b, err := appendTensor(nil, name, t)
	if err != nil {
		return nil, fmt.Errorf("onnx: encode tensor %q: %w", name, err)
	}
	return b, nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
