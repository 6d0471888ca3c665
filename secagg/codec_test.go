package secagg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func sampleMessages() []Message {
	h := func(s Step, from uint32) Header { return Header{Round: 42, Sender: from, Step: s} }
	id := &Identity{Public: bytes.Repeat([]byte{7}, 32), Sig: bytes.Repeat([]byte{9}, 64)}
	adv := &AdvertiseKeys{Header: h(StepAdvertiseKeys, 5)}
	adv.CPub[0], adv.SPub[31] = 1, 2
	adv2 := &AdvertiseKeys{Header: h(StepAdvertiseKeys, 6), Identity: id}
	kl := &KeyList{Header: h(StepShareKeys, ServerID), Peers: []PeerKeys{{ID: 1}, {ID: 9, Identity: id}}}
	var box Sealed
	box.Peer = 3
	box.Box[0], box.Box[SealedSize-1] = 0xaa, 0xbb
	box2 := box
	box2.Peer = 4
	return []Message{
		adv, adv2, kl,
		&KeyList{Header: h(StepShareKeys, ServerID)},
		&EncryptedShares{Header: h(StepShareKeys, 5), Boxes: []Sealed{box, box2}},
		&ShareBundle{Header: h(StepMaskedInput, ServerID), Boxes: []Sealed{box}},
		&MaskedInput{Header: h(StepMaskedInput, 5), Vector: []uint32{0, 1, 0xffffffff}},
		&SurvivorList{Header: h(StepConsistencyCheck, ServerID), Survivors: []uint32{1, 2, 77}},
		&ConsistencySig{Header: h(StepConsistencyCheck, 2)},
		&UnmaskRequest{Header: h(StepUnmask, ServerID), Survivors: []uint32{1, 2}, Sigs: []SignedBy{{ID: 2}}},
		&UnmaskResponse{Header: h(StepUnmask, 3),
			SelfMask: []OwnedShare{{Of: 1, Y: [ShareChunks]uint64{1, 2, 3, 4, fieldP - 1}}},
			MaskKey:  []OwnedShare{{Of: 2}, {Of: 8}}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("%v: %v", m.Kind(), err)
		}
		got, err := Unmarshal(b, Limits{})
		if err != nil {
			t.Fatalf("%v: %v", m.Kind(), err)
		}
		b2, _ := Marshal(got)
		if !bytes.Equal(b, b2) || got.Kind() != m.Kind() || got.Head() != m.Head() {
			t.Errorf("%v: round trip changed the message", m.Kind())
		}
		if m.Kind() == KindUnmaskResponse && !reflect.DeepEqual(got, m) {
			t.Errorf("UnmaskResponse: %+v != %+v", got, m)
		}
		// Every strict prefix is truncated; any trailing byte is refused.
		for i := range len(b) {
			if _, err := Unmarshal(b[:i], Limits{}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v truncated to %d: %v", m.Kind(), i, err)
			}
		}
		if _, err := Unmarshal(append(b, 0), Limits{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v with a trailing byte: %v", m.Kind(), err)
		}
	}
}

func TestCodecRejectsMalformed(t *testing.T) {
	good, _ := Marshal(&SurvivorList{Header: Header{Round: 1, Step: StepConsistencyCheck}, Survivors: []uint32{1, 2, 3}})
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"bad magic":           mut(func(b []byte) []byte { b[0] = 'X'; return b }),
		"future version":      mut(func(b []byte) []byte { b[2] = 2; return b }),
		"unknown kind":        mut(func(b []byte) []byte { b[3] = 99; return b }),
		"kind in wrong step":  mut(func(b []byte) []byte { b[16] = byte(StepUnmask); return b }),
		"server kind, client": mut(func(b []byte) []byte { b[12] = 5; return b }),
		"ids not ascending":   mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[headerSize+8:], 1); return b }),
		"zero id":             mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[headerSize+4:], 0); return b }),
		"count beyond bytes":  mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[headerSize:], 1<<16); return b }),
		"count beyond limit":  mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[headerSize:], 0xffffffff); return b }),
	}
	for name, b := range cases {
		if _, err := Unmarshal(b, Limits{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Unmarshal(good, Limits{MaxPeers: 2}); !errors.Is(err, ErrMalformed) {
		t.Errorf("3 survivors under a limit of 2: %v", err)
	}
	mi, _ := Marshal(&MaskedInput{Header: Header{Round: 1, Sender: 3, Step: StepMaskedInput}, Vector: make([]uint32, 11)})
	if _, err := Unmarshal(mi, Limits{MaxVector: 10}); !errors.Is(err, ErrMalformed) {
		t.Errorf("vector over the limit: %v", err)
	}
	us, _ := Marshal(&UnmaskResponse{Header: Header{Round: 1, Sender: 3, Step: StepUnmask}, MaskKey: []OwnedShare{{Of: 1}}})
	binary.LittleEndian.PutUint64(us[len(us)-8:], fieldP)
	if _, err := Unmarshal(us, Limits{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("share outside the field: %v", err)
	}
	// Encoders refuse what the decoder would refuse.
	for _, m := range []Message{
		&SurvivorList{Header: Header{Step: StepConsistencyCheck}, Survivors: []uint32{2, 1}},
		&MaskedInput{Header: Header{Sender: ServerID, Step: StepMaskedInput}},
		&ConsistencySig{Header: Header{Sender: 1, Step: StepUnmask}},
		&AdvertiseKeys{Header: Header{Sender: 1}, Identity: &Identity{Public: make([]byte, 3)}},
	} {
		if _, err := Marshal(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("marshal %v: %v", m.Kind(), err)
		}
	}
}

// FuzzUnmarshal: no input panics or allocates beyond its bounds, and every
// accepted input is canonical — re-encoding gives back the same bytes.
func FuzzUnmarshal(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b, Limits{MaxPeers: 1 << 10, MaxVector: 1 << 12})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		out, err := Marshal(m)
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, out)
		}
	})
}

// BenchmarkMaskedInputCodec marshals and parses one masked vector of
// RoundCost's size (37,025 words).
func BenchmarkMaskedInputCodec(b *testing.B) {
	m := &MaskedInput{Header: Header{Round: 1, Sender: 2, Step: StepMaskedInput}, Vector: make([]uint32, 37025)}
	for i := range m.Vector {
		m.Vector[i] = uint32(i) * 2654435761
	}
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = m.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
		if _, err := Unmarshal(buf, Limits{MaxVector: 37025}); err != nil {
			b.Fatal(err)
		}
	}
}
