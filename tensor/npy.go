package tensor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// NumPy .npy files, format versions 1.0, 2.0 and 3.0, as specified in
// numpy.org/neps/nep-0001-npy-format.html and numpy/lib/format.py: the magic
// "\x93NUMPY", a version, a little-endian header length (2 bytes in 1.0, 4
// in 2.0 and 3.0), then a Python dict literal with keys 'descr',
// 'fortran_order' and 'shape', padded with spaces and a newline so that the
// data starts at a multiple of 64 bytes; then the elements.

const npyMagic = "\x93NUMPY"

// Limits on what a .npy header may ask for.
const (
	// MaxNPYHeader is the largest header ReadNPY accepts. NumPy itself
	// refuses headers over 10,000 bytes by default (format.py,
	// _MAX_HEADER_SIZE).
	MaxNPYHeader = 1 << 16
	// maxNPYRank bounds the rank of an array read from a file (NumPy 1.x
	// allows 32 dimensions, NPY_MAXDIMS).
	maxNPYRank = 32
	// npyChunk is the size of the first buffer ReadNPY reads data into; it
	// grows only as data actually arrives, so a header claiming a huge shape
	// over a short file cannot make it allocate much.
	npyChunk = 1 << 20
)

// npyDescr maps NumPy dtype descriptors (little-endian or byte-order-free)
// to element types. float16 is '<f2'; bfloat16 has no NumPy dtype.
var npyDescr = map[string]DType{
	"<f4": Float32, "<f8": Float64, "<f2": Float16,
	"|i1": Int8, "|u1": Uint8, "|b1": Bool,
	"<i2": Int16, "<u2": Uint16, "<i4": Int32, "<u4": Uint32,
	"<i8": Int64, "<u8": Uint64,
}

// ReadNPY reads one array in NumPy's .npy format. Arrays must be in C
// (row-major) order; big-endian data is converted to little-endian. Data is
// read into a fresh 64-byte-aligned buffer. Bytes after the array are not
// read.
func ReadNPY(r io.Reader) (*Tensor, error) {
	t, err := readNPY(r)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return t, nil
}

func readNPY(r io.Reader) (*Tensor, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, fmt.Errorf("reading magic: %w", err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, errors.New("not a .npy file (bad magic)")
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, fmt.Errorf("reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, fmt.Errorf("reading header length: %w", err)
		}
		n := binary.LittleEndian.Uint32(l[:])
		if n > MaxNPYHeader {
			return nil, fmt.Errorf("header of %d bytes is over the limit of %d", n, MaxNPYHeader)
		}
		hlen = int(n)
	default:
		return nil, fmt.Errorf("unsupported format version %d.%d", major, minor)
	}
	if minor != 0 {
		return nil, fmt.Errorf("unsupported format version %d.%d", major, minor)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	h, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if h.fortran {
		return nil, errors.New("fortran_order arrays are not supported; save a C-order array (np.ascontiguousarray)")
	}
	dt, swap, err := npyDType(h.descr)
	if err != nil {
		return nil, err
	}
	n, err := h.shape.CheckedNumElements(maxElementsFor(dt))
	if err != nil {
		return nil, err
	}
	raw, err := readAligned(r, n*dt.Size())
	if err != nil {
		return nil, fmt.Errorf("reading %v%v data: %w", dt, h.shape, err)
	}
	if swap {
		swapBytes(raw, dt.Size())
	}
	if dt == Bool {
		for i, v := range raw {
			if v != 0 {
				raw[i] = 1
			}
		}
	}
	return &Tensor{DType: dt, Shape: h.shape, Raw: raw}, nil
}

// maxElementsFor keeps element count × size within an int.
func maxElementsFor(dt DType) int {
	return (1<<(bits.UintSize-2) - 1) / dt.Size()
}

// npyDType resolves a descriptor, reporting whether its data is big-endian.
func npyDType(descr string) (DType, bool, error) {
	if dt, ok := npyDescr[descr]; ok {
		return dt, false, nil
	}
	if len(descr) == 3 {
		switch descr[0] {
		case '>':
			if dt, ok := npyDescr["<"+descr[1:]]; ok {
				return dt, true, nil
			}
			if dt, ok := npyDescr["|"+descr[1:]]; ok {
				return dt, false, nil
			}
		case '<', '=':
			if dt, ok := npyDescr["|"+descr[1:]]; ok {
				return dt, false, nil
			}
		}
	}
	return Undefined, false, fmt.Errorf("unsupported dtype %q (want one of <f4 <f8 <f2 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 |b1)", descr)
}

// readAligned reads exactly n bytes into an aligned buffer, growing it as
// data arrives so that allocation stays within twice what r delivers.
func readAligned(r io.Reader, n int) ([]byte, error) {
	buf := AlignedBytes(min(n, npyChunk))
	got := 0
	for {
		k, err := io.ReadFull(r, buf[got:])
		got += k
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("%w after %d of %d bytes", err, got, n)
		}
		if got == n {
			return buf, nil
		}
		next := AlignedBytes(min(n, 2*len(buf)))
		copy(next, buf)
		buf = next
	}
}

func swapBytes(b []byte, size int) {
	for i := 0; i+size <= len(b); i += size {
		for j, k := i, i+size-1; j < k; j, k = j+1, k-1 {
			b[j], b[k] = b[k], b[j]
		}
	}
}

// ReadNPYFile reads the .npy file at path.
func ReadNPYFile(path string) (*Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	t, err := ReadNPY(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// WriteNPY writes t in .npy format, byte for byte as numpy.save writes the
// same array: version 1.0 (2.0 only if the header needs it), a header padded
// to a multiple of 64 bytes. String and bfloat16 tensors have no NumPy dtype
// and are an error.
func WriteNPY(w io.Writer, t *Tensor) error {
	if err := t.Check(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	descr := ""
	for d, dt := range npyDescr {
		if dt == t.DType {
			descr = d
		}
	}
	if descr == "" {
		return fmt.Errorf("npy: %v has no NumPy dtype", t.DType)
	}
	var hb strings.Builder
	fmt.Fprintf(&hb, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr)
	for i, d := range t.Shape {
		if i > 0 {
			hb.WriteString(", ")
		}
		hb.WriteString(strconv.Itoa(d))
	}
	if len(t.Shape) == 1 {
		hb.WriteByte(',')
	}
	hb.WriteString("), }")
	// NumPy leaves room for the first axis to grow in place (format.py,
	// GROWTH_AXIS_MAX_DIGITS = 21).
	if len(t.Shape) > 0 {
		hb.WriteString(strings.Repeat(" ", max(0, 21-len(strconv.Itoa(t.Shape[0])))))
	}
	header := hb.String()
	hlen := len(header) + 1 // the final newline
	pre := []byte(npyMagic + "\x01\x00")
	lenSize := 2
	pad := 64 - (len(pre)+lenSize+hlen)%64
	if hlen+pad > 0xffff { // too long for version 1.0's 2-byte length
		pre[6], lenSize = 2, 4
		pad = 64 - (len(pre)+lenSize+hlen)%64
	}
	total := hlen + pad
	if lenSize == 2 {
		pre = binary.LittleEndian.AppendUint16(pre, uint16(total))
	} else {
		pre = binary.LittleEndian.AppendUint32(pre, uint32(total))
	}
	out := append(pre, header...)
	out = append(out, strings.Repeat(" ", pad)...)
	out = append(out, '\n')
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if _, err := w.Write(t.Raw); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

// WriteNPYFile writes t to a .npy file at path, replacing it.
func WriteNPYFile(path string, t *Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	bw := bufio.NewWriter(f)
	err = WriteNPY(bw, t)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
