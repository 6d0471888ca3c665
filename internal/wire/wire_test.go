package wire

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestRepeatedPackedAndUnpacked(t *testing.T) {
	var b []byte
	b = AppendPackedVarints(b, 1, []uint64{1, 300, 1 << 40})
	b = AppendVarint(b, 1, 7) // the same field, unpacked
	b = AppendString(b, 2, "name")
	b = protowire.AppendTag(b, 3, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(1.5))
	ints := Repeated{Elem: protowire.VarintType}
	floats := Repeated{Elem: protowire.Fixed32Type}
	var name string
	err := Each(b, func(f Field) error {
		var err error
		switch f.Num {
		case 1:
			err = ints.Add(f)
		case 2:
			name, err = f.Str()
		case 3:
			err = floats.Add(f)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ints.Int64s(10)
	if err != nil || len(got) != 4 || got[1] != 300 || got[2] != 1<<40 || got[3] != 7 {
		t.Fatalf("Int64s = %v, %v", got, err)
	}
	if _, err := ints.Int64s(3); err == nil {
		t.Fatal("limit of 3 not enforced on 4 values")
	}
	fs, err := floats.Float32s()
	if err != nil || len(fs) != 1 || fs[0] != 1.5 {
		t.Fatalf("Float32s = %v, %v", fs, err)
	}
	if name != "name" {
		t.Fatalf("name %q", name)
	}
}

func TestEachRejectsTruncationAndBadTypes(t *testing.T) {
	full := AppendString(nil, 1, "hello")
	for i := 1; i < len(full); i++ {
		if err := Each(full[:i], func(Field) error { return nil }); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
	var f Field
	_ = Each(AppendVarint(nil, 4, math.MaxInt32+1), func(g Field) error { f = g; return nil })
	if _, err := f.Int(); err == nil {
		t.Fatal("Int accepted a value above MaxInt32")
	}
	if _, err := f.Str(); err == nil {
		t.Fatal("Str accepted a varint field")
	}
	r := Repeated{Elem: protowire.Fixed32Type}
	bad := AppendBytes(nil, 1, []byte{1, 2, 3}) // 3 bytes: not whole fixed32s
	_ = Each(bad, func(g Field) error { return r.Add(g) })
	if _, err := r.Count(); err == nil {
		t.Fatal("a packed fixed32 chunk of 3 bytes was accepted")
	}
}
