package onnx

import (
	"encoding/hex"
	"errors"
	"math"
	"os/exec"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/tensor"
)

// typedTensor builds a TensorProto that stores its elements in the typed
// field num (wire values as given), packed or one field per element.
func typedTensor(dt tensor.DType, shape []int, num protowire.Number, elem protowire.Type, vals []uint64, packed bool) []byte {
	var b []byte
	for _, d := range shape {
		b = protowire.AppendVarint(protowire.AppendTag(b, tpDims, protowire.VarintType), uint64(d))
	}
	b = protowire.AppendVarint(protowire.AppendTag(b, tpDataType, protowire.VarintType), uint64(dt))
	appendOne := func(b []byte, v uint64) []byte {
		switch elem {
		case protowire.Fixed32Type:
			return protowire.AppendFixed32(b, uint32(v))
		case protowire.Fixed64Type:
			return protowire.AppendFixed64(b, v)
		}
		return protowire.AppendVarint(b, v)
	}
	if packed {
		var body []byte
		for _, v := range vals {
			body = appendOne(body, v)
		}
		return appendMessage(b, num, body)
	}
	for _, v := range vals {
		b = appendOne(protowire.AppendTag(b, num, elem), v)
	}
	return b
}

// TestTypedFieldsMatchRawData decodes each dtype's values from the typed
// field onnx.proto assigns to it, packed and unpacked, and from raw_data,
// and requires identical tensors.
func TestTypedFieldsMatchRawData(t *testing.T) {
	i32 := func(v int32) uint64 { return uint64(int64(v)) } // int32 varints sign-extend
	tests := []struct {
		raw  *tensor.Tensor
		num  protowire.Number
		elem protowire.Type
		vals []uint64
	}{
		{tensor.From([]float32{1.5, -2, float32(math.Inf(1))}, 3), tpFloatData, protowire.Fixed32Type,
			[]uint64{uint64(math.Float32bits(1.5)), uint64(math.Float32bits(-2)), uint64(math.Float32bits(float32(math.Inf(1))))}},
		{tensor.From([]float64{math.Pi, math.Copysign(0, -1)}, 2, 1), tpDoubleData, protowire.Fixed64Type,
			[]uint64{math.Float64bits(math.Pi), math.Float64bits(math.Copysign(0, -1))}},
		{tensor.From([]int32{math.MinInt32, -1, 7}, 3), tpInt32Data, protowire.VarintType, []uint64{i32(math.MinInt32), i32(-1), 7}},
		{tensor.From([]int16{-300, 300}, 2), tpInt32Data, protowire.VarintType, []uint64{i32(-300), 300}},
		{tensor.From([]int8{-128, 127}, 2), tpInt32Data, protowire.VarintType, []uint64{i32(-128), 127}},
		{tensor.From([]uint16{65535, 1}, 2), tpInt32Data, protowire.VarintType, []uint64{65535, 1}},
		{tensor.From([]uint8{255, 0, 9}, 3), tpInt32Data, protowire.VarintType, []uint64{255, 0, 9}},
		{tensor.From([]bool{true, false, true}, 3), tpInt32Data, protowire.VarintType, []uint64{1, 0, 1}},
		{mustRaw(tensor.Float16, tensor.Shape{2}, []byte{0x00, 0x3c, 0x00, 0xc0}), tpInt32Data, protowire.VarintType, []uint64{0x3c00, 0xc000}},
		{mustRaw(tensor.BFloat16, tensor.Shape{2}, []byte{0x80, 0x3f, 0x49, 0x40}), tpInt32Data, protowire.VarintType, []uint64{0x3f80, 0x4049}},
		{tensor.From([]int64{math.MinInt64, 1 << 40}, 2), tpInt64Data, protowire.VarintType, []uint64{1 << 63, 1 << 40}},
		{tensor.From([]uint32{math.MaxUint32, 0}, 2), tpUint64Data, protowire.VarintType, []uint64{math.MaxUint32, 0}},
		{tensor.From([]uint64{math.MaxUint64}, 1), tpUint64Data, protowire.VarintType, []uint64{math.MaxUint64}},
		{tensor.New(tensor.Float32, 0, 3), tpFloatData, protowire.Fixed32Type, nil},
	}
	for _, tc := range tests {
		rawPB, err := EncodeTensor("v", tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		_, fromRaw, err := DecodeTensor(rawPB)
		if err != nil {
			t.Fatalf("%v raw: %v", tc.raw, err)
		}
		if d := diffTensors(tc.raw, fromRaw); d != "" {
			t.Errorf("%v raw_data: %s", tc.raw, d)
		}
		for _, packed := range []bool{true, false} {
			pb := typedTensor(tc.raw.DType, tc.raw.Shape, tc.num, tc.elem, tc.vals, packed)
			_, got, err := DecodeTensor(pb)
			if err != nil {
				t.Errorf("%v typed (packed %v): %v", tc.raw, packed, err)
				continue
			}
			if d := diffTensors(tc.raw, got); d != "" {
				t.Errorf("%v typed (packed %v): %s", tc.raw, packed, d)
			}
		}
	}
}

func mustRaw(dt tensor.DType, s tensor.Shape, raw []byte) *tensor.Tensor {
	t, err := tensor.FromRaw(dt, s, raw)
	if err != nil {
		panic(err)
	}
	return t
}

func TestBoolsAreNormalized(t *testing.T) {
	raw := appendMessage(protowire.AppendVarint(protowire.AppendTag(
		protowire.AppendVarint(protowire.AppendTag(nil, tpDims, protowire.VarintType), 3),
		tpDataType, protowire.VarintType), uint64(tensor.Bool)), tpRawData, []byte{0, 2, 255})
	typed := typedTensor(tensor.Bool, []int{3}, tpInt32Data, protowire.VarintType, []uint64{0, 2, 1<<40 + 5}, true) // int32 varints keep their low 32 bits
	for _, pb := range [][]byte{raw, typed} {
		_, got, err := DecodeTensor(pb)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Raw) != "\x00\x01\x01" {
			t.Errorf("bools decoded as %v, want [0 1 1]", got.Raw)
		}
	}
}

func TestDecodeTensorRejectsHostileInput(t *testing.T) {
	header := func(dt uint64, dims ...int64) []byte {
		var b []byte
		for _, d := range dims {
			b = protowire.AppendVarint(protowire.AppendTag(b, tpDims, protowire.VarintType), uint64(d))
		}
		return protowire.AppendVarint(protowire.AppendTag(b, tpDataType, protowire.VarintType), dt)
	}
	raw := func(b []byte, n int) []byte { return appendMessage(b, tpRawData, make([]byte, n)) }
	var deep []int64
	for range MaxRank + 1 {
		deep = append(deep, 1)
	}
	tests := []struct {
		name string
		pb   []byte
		want string
		is   error
	}{
		{"negative dim", raw(header(uint64(tensor.Float32), -1), 0), "dimension 0 is -1", nil},
		{"rank above limit", raw(header(uint64(tensor.Float32), deep...), 4), "limit", nil},
		{"huge dims, no data", header(uint64(tensor.Float32), 1<<40, 1<<20), "more than", nil},
		{"huge dims, small data", raw(header(uint64(tensor.Uint8), 1<<20, 1<<20), 16), "raw_data has 16 bytes", nil},
		{"dims overflow int", raw(header(uint64(tensor.Float32), math.MaxInt64, math.MaxInt64), 4), "dimension", nil},
		{"raw too short", raw(header(uint64(tensor.Float32), 2), 7), "raw_data has 7 bytes", nil},
		{"raw too long", raw(header(uint64(tensor.Float32), 2), 9), "raw_data has 9 bytes", nil},
		{"no data", header(uint64(tensor.Float32), 2), "float_data has 0 values", nil},
		{"typed count", typedTensor(tensor.Int64, []int{3}, tpInt64Data, protowire.VarintType, []uint64{1, 2}, true), "int64_data has 2 values", nil},
		{"wrong typed field", typedTensor(tensor.Int64, []int{1}, tpFloatData, protowire.Fixed32Type, []uint64{1}, true), "other than int64_data", nil},
		{"raw and typed", raw(typedTensor(tensor.Float32, []int{1}, tpFloatData, protowire.Fixed32Type, []uint64{1}, true), 4), "both", nil},
		{"packed float remainder", appendMessage(header(uint64(tensor.Float32), 1), tpFloatData, []byte{1, 2, 3, 4, 5}), "whole number", nil},
		{"bad packed varint", appendMessage(header(uint64(tensor.Int64), 1), tpInt64Data, []byte{0x80}), "packed field 7", nil},
		{"strings count", appendMessage(header(uint64(tensor.String), 2), tpStringData, []byte("a")), "1 strings", nil},
		{"string with raw", raw(header(uint64(tensor.String), 0), 0), "numeric data", nil},
		{"complex64", raw(header(14, 1), 8), "unsupported data type 14", nil},
		{"undefined type", raw(header(0, 1), 4), "unsupported data type 0", nil},
		{"huge type", raw(header(1<<40+1, 1), 4), "unsupported data type", nil},
		{"segment", appendMessage(raw(header(uint64(tensor.Float32), 1), 4), tpSegment, nil), "segmented", nil},
		{"external", protowire.AppendVarint(protowire.AppendTag(header(uint64(tensor.Float32), 1), tpDataLocation, protowire.VarintType), 1), "external", ErrExternalData},
		{"truncated", raw(header(uint64(tensor.Float32), 2), 8)[:9], "onnx: tensor", nil},
		{"bad tag", []byte{0x00}, "tag", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := DecodeTensor(tc.pb)
			if err == nil {
				t.Fatalf("decoded %v without error", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

func TestDecodeTensorAlignsData(t *testing.T) {
	// Shift raw_data to every offset within a cache line: the decoded data
	// must be aligned whatever the input's alignment.
	pb, err := EncodeTensor("w", tensor.From([]float64{1, 2, 3}, 3))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(pb)+tensor.Alignment)
	for off := range tensor.Alignment {
		copy(buf[off:], pb)
		name, got, err := DecodeTensor(buf[off : off+len(pb)])
		if err != nil || name != "w" {
			t.Fatalf("offset %d: %q, %v", off, name, err)
		}
		if !tensor.IsAligned(got.Raw, tensor.Alignment) || tensor.Data[float64](got)[2] != 3 {
			t.Fatalf("offset %d: data misaligned or wrong", off)
		}
	}
}

// pyTypedScript writes, for each data type, a TensorProto made by onnx's
// make_tensor with typed fields (raw=False), then the expected little-endian
// element bytes, as hex on two lines.
const pyTypedScript = `
import numpy as np
from onnx import TensorProto, helper
vals = [0.0, 1.0, -2.0, 3.5, 100.0, -7.25]
for name, np_type in [("FLOAT", np.float32), ("DOUBLE", np.float64), ("INT32", np.int32),
                      ("INT16", np.int16), ("INT8", np.int8), ("UINT16", np.uint16),
                      ("UINT8", np.uint8), ("INT64", np.int64), ("UINT32", np.uint32),
                      ("UINT64", np.uint64), ("BOOL", np.bool_), ("FLOAT16", np.float16)]:
    a = np.array([abs(v) if name.startswith("U") else v for v in vals]).astype(np_type).reshape(2, 3)
    t = helper.make_tensor("t", getattr(TensorProto, name), [2, 3], a.flatten().tolist() if name != "FLOAT16" else a.flatten(), raw=False)
    print(name, t.SerializeToString().hex(), a.astype(a.dtype.newbyteorder("<")).tobytes().hex())
bf = helper.make_tensor("t", TensorProto.BFLOAT16, [2, 3], vals, raw=False)
exp = b"".join(int(helper.float32_to_bfloat16(v)).to_bytes(2, "little") for v in vals)
print("BFLOAT16", bf.SerializeToString().hex(), exp.hex())
`

// TestTypedFieldsMatchONNXPython decodes tensors made by onnx's Python
// make_tensor with typed fields and compares them with NumPy's bytes.
func TestTypedFieldsMatchONNXPython(t *testing.T) {
	py := requirePythonONNX(t)
	out, err := exec.Command(py, "-c", pyTypedScript).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 13 {
		t.Fatalf("python printed %d lines:\n%s", len(lines), out)
	}
	for _, line := range lines {
		f := strings.Fields(line)
		pb, err1 := hex.DecodeString(f[1])
		want, err2 := hex.DecodeString(f[2])
		if len(f) != 3 || err1 != nil || err2 != nil {
			t.Fatalf("bad line %q", line)
		}
		_, got, err := DecodeTensor(pb)
		if err != nil {
			t.Errorf("%s: %v", f[0], err)
			continue
		}
		if !got.Shape.Equal(tensor.Shape{2, 3}) || string(got.Raw) != string(want) {
			t.Errorf("%s: got %v % x, want % x", f[0], got, got.Raw, want)
		}
	}
}
