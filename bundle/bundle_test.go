package bundle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"

	"github.com/sextant-ml/sextant/tensor"
)

func TestRoundTrip(t *testing.T) {
	g := testGraph()
	m := testManifest(g)
	var buf bytes.Buffer
	if err := Write(&buf, g, m, testExtras()...); err != nil {
		t.Fatal(err)
	}
	if m.Ops != nil {
		t.Error("Write modified the caller's manifest")
	}
	b, err := OpenBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if d := diffGraphs(g, b.Graph); d != "" {
		t.Fatalf("graph differs after round trip: %s", d)
	}
	want := *m
	want.Ops = OpsUsed(g)
	if got, w := mustJSON(t, b.Manifest), mustJSON(t, &want); got != w {
		t.Fatalf("manifest differs:\n got %s\nwant %s", got, w)
	}
	if !reflect.DeepEqual(b.Manifest, &want) {
		t.Errorf("manifest not deeply equal after round trip:\n got %#v\nwant %#v", b.Manifest, &want)
	}
	if b.Header.Version != FormatVersion || b.Size() != int64(buf.Len()) {
		t.Errorf("header version %d size %d, want %d %d", b.Header.Version, b.Size(), FormatVersion, buf.Len())
	}
	if err := b.Verify(); err != nil {
		t.Errorf("Verify of a fresh bundle: %v", err)
	}
	wantOps := []string{"LayerNormalization", "MatMul", "sextant:FusedGelu"}
	if !reflect.DeepEqual(b.Manifest.Ops, wantOps) {
		t.Errorf("Ops = %v, want %v", b.Manifest.Ops, wantOps)
	}
}

func TestExtrasAndLayouts(t *testing.T) {
	b, err := OpenBytes(writeFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range testExtras() {
		got, ok := b.Tensor(e.Name, e.Layout)
		if !ok {
			t.Fatalf("tensor %q layout %q missing", e.Name, e.Layout)
		}
		if d := diffTensors(e.Tensor, got); d != "" {
			t.Errorf("tensor %q layout %q: %s", e.Name, e.Layout, d)
		}
	}
	if ls := b.Layouts("w_f32"); !reflect.DeepEqual(ls, []string{"", "f32-panel-avx512-16"}) {
		t.Errorf("Layouts(w_f32) = %q", ls)
	}
	var packed *TensorInfo
	for i, in := range b.Tensors() {
		if in.Layout != "" {
			packed = &b.Tensors()[i]
		}
	}
	if packed == nil || packed.Name != "w_f32" || packed.Length != 256 || !packed.Shape.Equal(tensor.Shape{4, 3}) {
		t.Errorf("packed entry = %+v", packed)
	}
	// Rewriting from what Open returned reproduces the file byte for byte.
	extras := b.Extras()
	if len(extras) != len(testExtras()) {
		t.Fatalf("Extras returned %d tensors, want %d", len(extras), len(testExtras()))
	}
	var again bytes.Buffer
	if err := Write(&again, b.Graph, b.Manifest, extras...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), b.data) {
		t.Error("rewrite of an opened bundle is not byte-identical")
	}
}

func TestAlignment(t *testing.T) {
	data := writeFixture(t)
	b, err := OpenBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range b.Tensors() {
		if in.Offset%tensor.Alignment != 0 {
			t.Errorf("tensor %q at file offset %d is not %d-byte aligned", in.Name, in.Offset, tensor.Alignment)
		}
	}
	for _, v := range b.Graph.Initializers {
		if !tensor.IsAligned(v.Const.Raw, tensor.Alignment) {
			t.Errorf("initializer %q data is not aligned", v.Name)
		}
	}
	// A misaligned input slice is copied to aligned memory, still usable.
	odd := make([]byte, len(data)+1)
	copy(odd[1:], data)
	b2, err := OpenBytes(odd[1:])
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range b2.Graph.Initializers {
		if !tensor.IsAligned(v.Const.Raw, tensor.Alignment) {
			t.Errorf("initializer %q data is not aligned after copy", v.Name)
		}
	}
}

// within reports whether s's bytes lie inside m.
func within(s, m []byte) bool {
	if len(s) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(m))
}

func TestOpenIsZeroCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sxm")
	g := testGraph()
	if err := WriteFile(path, g, testManifest(g), testExtras()...); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	for _, v := range b.Graph.Initializers {
		if v.Const.DType == tensor.String || len(v.Const.Raw) == 0 {
			continue
		}
		n++
		if !within(v.Const.Raw, b.data) {
			t.Errorf("initializer %q at %p is outside the mapping %p+%d", v.Name, unsafe.SliceData(v.Const.Raw), unsafe.SliceData(b.data), len(b.data))
		}
		if cap(v.Const.Raw) != len(v.Const.Raw) {
			t.Errorf("initializer %q can be appended into the mapping (cap %d > len %d)", v.Name, cap(v.Const.Raw), len(v.Const.Raw))
		}
	}
	if n < 10 {
		t.Fatalf("only %d initializers checked", n)
	}
	// OpenBytes over aligned memory aliases it too.
	data := writeFixture(t)
	ob, err := OpenBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ob.Graph.Initializers {
		if !within(v.Const.Raw, data) {
			t.Errorf("OpenBytes copied initializer %q", v.Name)
		}
	}
}

func TestTruncationAtEveryOffset(t *testing.T) {
	data := writeFixture(t)
	for n := range len(data) {
		b, err := OpenBytes(data[:n:n])
		if err == nil {
			b.Close()
			t.Fatalf("OpenBytes of the first %d of %d bytes succeeded", n, len(data))
		}
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("truncated at %d: error %v is not a *FormatError", n, err)
		}
		if err := Verify(bytes.NewReader(data[:n])); err == nil {
			t.Fatalf("Verify of the first %d bytes succeeded", n)
		}
	}
}

func TestVerifyDetectsEveryBitFlip(t *testing.T) {
	data := writeFixture(t)
	if err := Verify(bytes.NewReader(data)); err != nil {
		t.Fatalf("intact bundle: %v", err)
	}
	c := bytes.Clone(data)
	for i := range c {
		for bit := range 8 {
			c[i] ^= 1 << bit
			err := Verify(bytes.NewReader(c))
			c[i] ^= 1 << bit
			if err == nil {
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
			var fe *FormatError
			if !errors.Is(err, ErrChecksum) && !errors.As(err, &fe) {
				t.Fatalf("byte %d bit %d: untyped error %v", i, bit, err)
			}
			if i >= HeaderSize && !errors.Is(err, ErrChecksum) {
				t.Fatalf("byte %d bit %d: %v, want ErrChecksum", i, bit, err)
			}
		}
	}
	// An appended byte is caught too.
	if err := Verify(bytes.NewReader(append(bytes.Clone(data), 0))); err == nil {
		t.Error("Verify accepted a file with a trailing byte")
	}
}

func TestVerifyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sxm")
	g := testGraph()
	if err := WriteFile(path, g, testManifest(g), testExtras()...); err != nil {
		t.Fatal(err)
	}
	if err := VerifyFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := VerifyFile(path); !errors.Is(err, ErrChecksum) {
		t.Fatalf("VerifyFile of a corrupted file = %v, want ErrChecksum", err)
	}
	// Open does not check the hash: the corrupted file still opens.
	b, err := Open(path)
	if err != nil {
		t.Fatalf("Open checked more than structure: %v", err)
	}
	if err := b.Verify(); !errors.Is(err, ErrChecksum) {
		t.Errorf("Bundle.Verify = %v, want ErrChecksum", err)
	}
	b.Close()
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriteFileLeavesNoTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.sxm")
	g := testGraph()
	for range 2 { // the second write replaces the first
		if err := WriteFile(path, g, testManifest(g), testExtras()...); err != nil {
			t.Fatal(err)
		}
	}
	bad := testManifest(g)
	bad.Version = "one"
	if err := WriteFile(path, g, bad); err == nil {
		t.Fatal("WriteFile accepted an invalid manifest")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "m.sxm" {
		t.Fatalf("directory holds %v, want only m.sxm", ents)
	}
	if err := VerifyFile(path); err != nil {
		t.Fatalf("failed write damaged the existing file: %v", err)
	}
}

// patch returns a copy of data with the uint64 at off set to v.
func patch(data []byte, off int, v uint64) []byte {
	c := tensor.AlignedBytes(len(data))
	copy(c, data)
	binary.LittleEndian.PutUint64(c[off:], v)
	return c
}

func TestHostileHeaders(t *testing.T) {
	data := writeFixture(t)
	huge := uint64(1) << 62
	cases := map[string][]byte{
		"bad magic":             append([]byte("GIF89a.."), data[8:]...),
		"manifest length huge":  patch(data, offSections+8, huge),
		"graph offset past end": patch(data, offSections+16, uint64(len(data))+1),
		"length overflows":      patch(data, offSections+16+8, ^uint64(0)),
		"data misaligned":       patch(data, offSections+48, binary.LittleEndian.Uint64(data[offSections+48:])+8),
		"size larger":           patch(data, offFileSize, uint64(len(data))+64),
		"sections overlap":      patch(data, offSections+16, HeaderSize),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := OpenBytes(c)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("OpenBytes = %v, want a *FormatError", err)
			}
		})
	}
	newer := bytes.Clone(data)
	binary.LittleEndian.PutUint32(newer[offVersion:], FormatVersion+1)
	if _, err := OpenBytes(newer); !errors.Is(err, ErrVersion) {
		t.Errorf("newer format: %v, want ErrVersion", err)
	}
	flagged := bytes.Clone(data)
	binary.LittleEndian.PutUint32(flagged[offFlags:], 1)
	if _, err := OpenBytes(flagged); !errors.Is(err, ErrVersion) {
		t.Errorf("unknown required flag: %v, want ErrVersion", err)
	}
	hint := bytes.Clone(data)
	binary.LittleEndian.PutUint32(hint[offFlags:], 1<<20)
	if _, err := OpenBytes(hint); err != nil {
		t.Errorf("an ignorable flag bit was rejected: %v", err)
	}
}

func TestExtraSharingAGraphTensor(t *testing.T) {
	g := testGraph()
	extras := testExtras()
	// The golden output is the very tensor a weight uses: it must still be
	// stored under its own name.
	extras[3].Tensor = g.Initializers[0].Const
	var buf bytes.Buffer
	if err := Write(&buf, g, testManifest(g), extras...); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, ok := b.Tensor("golden/out/y", "")
	if !ok {
		t.Fatal("golden/out/y missing")
	}
	if d := diffTensors(g.Initializers[0].Const, got); d != "" {
		t.Fatal(d)
	}
}
