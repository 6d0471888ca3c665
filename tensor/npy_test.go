package tensor

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// npyFile assembles a .npy file from a version, header text and data.
func npyFile(major byte, header string, data []byte) []byte {
	b := []byte(npyMagic)
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	b = append(b, header...)
	return append(b, data...)
}

func sampleTensors() []*Tensor {
	f16, _ := FromRaw(Float16, Shape{2}, []byte{0x00, 0x3c, 0x00, 0xc0})
	return []*Tensor{
		From([]float32{1, -2.5, float32(math.Inf(1)), 4, 5, 6}, 2, 3),
		From([]float64{math.Pi}, 1),
		f16,
		From([]int8{-128, 127}, 2),
		From([]uint8{0, 255, 7}, 3, 1),
		From([]int16{-300}, 1, 1, 1),
		From([]uint16{65535, 1}, 2),
		From([]int32{math.MinInt32, 3}, 2),
		From([]uint32{math.MaxUint32}, 1),
		From([]int64{math.MinInt64, 1 << 40}, 2),
		From([]uint64{math.MaxUint64}, 1),
		From([]bool{true, false, true}, 3),
		Scalar(float32(7)),
		New(Float32, 0, 4),
	}
}

func TestNPYRoundTrip(t *testing.T) {
	for _, want := range sampleTensors() {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, want); err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		data := buf.Bytes()
		if hdr := int(binary.LittleEndian.Uint16(data[8:10])); (10+hdr)%64 != 0 || data[9+hdr] != '\n' {
			t.Errorf("%v: data starts at byte %d, not a multiple of 64 after a newline", want, 10+hdr)
		}
		got, err := ReadNPY(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if got.DType != want.DType || !got.Shape.Equal(want.Shape) || !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("round trip: got %v % x, want %v % x", got, got.Raw, want, want.Raw)
		}
		if !IsAligned(got.Raw, Alignment) {
			t.Errorf("%v: data not aligned", want)
		}
	}
}

func TestWriteNPYRejectsTypesWithoutNumPyDType(t *testing.T) {
	bf := New(BFloat16, 2)
	if err := WriteNPY(io.Discard, bf); err == nil || !strings.Contains(err.Error(), "bfloat16") {
		t.Errorf("bfloat16: %v", err)
	}
	s := &Tensor{DType: String, Shape: Shape{1}, Strs: []string{"a"}}
	if err := WriteNPY(io.Discard, s); err == nil {
		t.Error("string tensor written")
	}
}

func TestReadNPYVersionsAndByteOrder(t *testing.T) {
	le := []byte{1, 0, 0, 0, 0, 0, 0, 2}
	be := []byte{0, 0, 0, 1, 2, 0, 0, 0}
	tests := []struct {
		name string
		file []byte
	}{
		{"v1", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n", le)},
		{"v2", npyFile(2, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n", le)},
		{"v3", npyFile(3, `{"shape": (2L,), "fortran_order": False, "descr": "<i4"}`+"  \n", le)},
		{"big-endian", npyFile(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,)}", be)},
	}
	for _, tc := range tests {
		got, err := ReadNPY(bytes.NewReader(tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if v := Data[int32](got); got.DType != Int32 || len(v) != 2 || v[0] != 1 || v[1] != 2<<24 {
			t.Errorf("%s: got %v %v, want int32 [1 %d]", tc.name, got, v, 2<<24)
		}
	}
	// Big-endian 16-bit floats and one-byte types.
	got, err := ReadNPY(bytes.NewReader(npyFile(1, "{'descr': '>f2', 'fortran_order': False, 'shape': (1,)}", []byte{0x3c, 0x00})))
	if err != nil || got.DType != Float16 || Float16Bits(Data[uint16](got)[0]).Float32() != 1 {
		t.Errorf(">f2: %v %v", got, err)
	}
	got, err = ReadNPY(bytes.NewReader(npyFile(1, "{'descr': '>b1', 'fortran_order': False, 'shape': (2,)}", []byte{0, 9})))
	if err != nil || got.DType != Bool || string(got.Raw) != "\x00\x01" {
		t.Errorf(">b1 (bools normalized to 0/1): %v %v", got, err)
	}
}

func TestReadNPYRejectsBadFiles(t *testing.T) {
	hdr := func(s string) string { return "{'descr': '<f4', 'fortran_order': False, 'shape': " + s + ", }" }
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"fortran", npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", make([]byte, 4)), "fortran_order"},
		{"bad magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), "magic"},
		{"version 4", npyFile(4, hdr("(1,)"), nil), "version 4.0"},
		{"empty", nil, "magic"},
		{"short data", npyFile(1, hdr("(3,)"), make([]byte, 11)), "after 11 of 12 bytes"},
		{"header cut", npyFile(1, hdr("(3,)"), nil)[:20], "reading header"},
		{"huge header length", npyFile(2, "", nil)[:8], "header length"},
		{"string dtype", npyFile(1, "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", make([]byte, 12)), `unsupported dtype "<U3"`},
		{"object dtype", npyFile(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)), "unsupported dtype"},
		{"structured", npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", nil), "structured"},
		{"missing key", npyFile(1, "{'descr': '<f4', 'shape': (1,), }", nil), `missing key "fortran_order"`},
		{"extra key", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", nil), `unexpected key "x"`},
		{"duplicate key", npyFile(1, "{'descr': '<f4', 'descr': '<f4'}", nil), "twice"},
		{"negative dim", npyFile(1, hdr("(-1,)"), nil), "dimension"},
		{"not a tuple", npyFile(1, hdr("(3)"), nil), "not a tuple"},
		{"too many dims", npyFile(1, hdr("("+strings.Repeat("1,", 33)+")"), nil), "more than 32"},
		{"overflow", npyFile(1, hdr("(999999999999999999, 999999999999999999)"), nil), "more than"},
		{"trailing junk", npyFile(1, hdr("(1,)")+" x", nil), "after the dict"},
		{"unterminated", npyFile(1, "{'descr: '<f4'", nil), "want ':'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadNPY(bytes.NewReader(tc.file))
			if err == nil {
				t.Fatalf("read %v without error", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	var big [4]byte
	binary.LittleEndian.PutUint32(big[:], MaxNPYHeader+1)
	_, err := ReadNPY(bytes.NewReader(append([]byte(npyMagic+"\x02\x00"), big[:]...)))
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("oversized header: %v", err)
	}
}

// TestReadNPYBoundsAllocation reads a header that claims a 1 TB array over a
// few bytes of data: it must fail having allocated little.
func TestReadNPYBoundsAllocation(t *testing.T) {
	file := npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 125000), }", make([]byte, 100))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadNPY(bytes.NewReader(file))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want unexpected EOF", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4*npyChunk {
		t.Errorf("allocated %d bytes for a 100-byte file", n)
	}
}

func TestReadNPYLargeData(t *testing.T) {
	// More than one read chunk, to exercise buffer growth.
	n := npyChunk/4*3 + 5
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	var buf bytes.Buffer
	if err := WriteNPY(&buf, From(v, n)); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNPY(iotestOneByteAtTimes(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if d := Data[float32](got); len(d) != n || d[n-1] != float32(n-1) || d[npyChunk/4] != float32(npyChunk/4) {
		t.Error("large array read back wrong")
	}
}

// iotestOneByteAtTimes returns a reader that delivers short reads.
func iotestOneByteAtTimes(r io.Reader) io.Reader { return &shortReader{r} }

type shortReader struct{ r io.Reader }

func (s *shortReader) Read(p []byte) (int, error) {
	if len(p) > 4093 {
		p = p[:4093]
	}
	return s.r.Read(p)
}

func TestNPYFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.npy")
	want := From([]int64{1, 2, 3}, 3)
	if err := WriteNPYFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNPYFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, want.Raw) || !got.Shape.Equal(want.Shape) {
		t.Errorf("got %v", got)
	}
	if _, err := ReadNPYFile(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// pyNPYScript saves each array with numpy.save and prints the file as hex;
// then it loads the hex files given on stdin (one per line) and prints each
// array's dtype, shape and data bytes.
const pyNPYScript = `
import io, sys
import numpy as np
arrays = [
    np.array([[1, -2.5, np.inf], [4, 5, 6]], dtype="<f4"),
    np.array([np.pi], dtype="<f8"),
    np.array([1, -2], dtype="<f2"),
    np.array([-128, 127], dtype="|i1"),
    np.array([[0], [255], [7]], dtype="|u1"),
    np.array([[[-300]]], dtype="<i2"),
    np.array([65535, 1], dtype="<u2"),
    np.array([-2**31, 3], dtype="<i4"),
    np.array([2**32 - 1], dtype="<u4"),
    np.array([-2**63, 2**40], dtype="<i8"),
    np.array([2**64 - 1], dtype="<u8"),
    np.array([True, False, True], dtype="|b1"),
    np.array(7, dtype="<f4"),
    np.zeros((0, 4), dtype="<f4"),
    np.arange(12, dtype=">i4").reshape(3, 4),
    np.asfortranarray(np.arange(6, dtype="<i2").reshape(2, 3))[::-1],
]
for a in arrays:
    f = io.BytesIO()
    np.save(f, a)
    print(f.getvalue().hex())
print("--")
for line in sys.stdin:
    a = np.load(io.BytesIO(bytes.fromhex(line.strip())))
    print(a.dtype.str, list(a.shape), a.astype(a.dtype.newbyteorder("<")).tobytes().hex())
`

// TestNPYMatchesNumPy checks, against Debian's NumPy when it is installed,
// that ReadNPY reads what numpy.save writes, that WriteNPY writes the same
// bytes as numpy.save, and that numpy.load reads what WriteNPY writes.
func TestNPYMatchesNumPy(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s with numpy is not available (apt-get install python3-numpy): %v", py, err)
		}
		t.Skipf("%s with numpy is not available; install it with: apt-get install python3-numpy: %v", py, err)
	}
	var stdin bytes.Buffer
	for _, tt := range sampleTensors() {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tt); err != nil {
			t.Fatal(err)
		}
		stdin.WriteString(hex.EncodeToString(buf.Bytes()) + "\n")
	}
	cmd := exec.Command(py, "-c", pyNPYScript)
	cmd.Stdin = &stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	saved, loaded, ok := strings.Cut(strings.TrimSpace(string(out)), "\n--\n")
	if !ok {
		t.Fatalf("unexpected output:\n%s", out)
	}
	files := strings.Split(saved, "\n")
	samples := sampleTensors()
	for i, h := range files {
		file, _ := hex.DecodeString(h)
		got, err := ReadNPY(bytes.NewReader(file))
		if err != nil {
			t.Errorf("numpy file %d: %v", i, err)
			continue
		}
		if i >= len(samples) {
			continue // the extra big-endian and non-contiguous arrays: reading is enough
		}
		want := samples[i]
		if got.DType != want.DType || !got.Shape.Equal(want.Shape) || !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("numpy file %d: read %v % x, want %v % x", i, got, got.Raw, want, want.Raw)
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), file) {
			t.Errorf("array %d: WriteNPY wrote\n%q\nnumpy.save wrote\n%q", i, buf.Bytes(), file)
		}
	}
	if len(files) != len(samples)+2 {
		t.Errorf("python saved %d arrays, want %d", len(files), len(samples)+2)
	}
	for i, line := range strings.Split(loaded, "\n") {
		want := samples[i]
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("bad line %q", line)
		}
		data := ""
		if len(f) > 2 && !strings.HasSuffix(f[len(f)-1], "]") {
			data = f[len(f)-1]
		}
		if data != hex.EncodeToString(want.Raw) {
			t.Errorf("numpy.load of WriteNPY(%v) gave %s, data %s", want, line, data)
		}
	}
	if got := strings.Count(loaded, "\n") + 1; got != len(samples) {
		t.Errorf("numpy loaded %d arrays, want %d", got, len(samples))
	}
}
