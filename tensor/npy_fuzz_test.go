package tensor

import (
	"bytes"
	"testing"
)

// FuzzReadNPY feeds arbitrary bytes to ReadNPY. It must not panic or
// allocate beyond what the input backs; what it accepts must be consistent,
// aligned, and survive WriteNPY → ReadNPY unchanged.
func FuzzReadNPY(f *testing.F) {
	for _, tt := range sampleTensors() {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tt); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add(npyFile(3, `{"descr": ">u8", "fortran_order": False, "shape": (1L,)}`, make([]byte, 8)))
	f.Add(npyFile(2, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }", []byte{3}))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadNPY(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := got.Check(); err != nil {
			t.Fatalf("inconsistent tensor: %v", err)
		}
		if !IsAligned(got.Raw, Alignment) {
			t.Fatal("data not aligned")
		}
		if len(got.Raw) > len(data) {
			t.Fatalf("%d bytes of data from a %d-byte file", len(got.Raw), len(data))
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, got); err != nil {
			t.Fatalf("accepted tensor does not write: %v", err)
		}
		again, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("written tensor does not read: %v", err)
		}
		if again.DType != got.DType || !again.Shape.Equal(got.Shape) || !bytes.Equal(again.Raw, got.Raw) {
			t.Fatalf("round trip: %v vs %v", again, got)
		}
	})
}
