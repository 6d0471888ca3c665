package secagg

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestWordsRoundTrip checks appendWords and readWords, on the memmove path
// and on the word loop, against encoding/binary, and a MaskedInput's wire
// bytes against its layout written out by hand.
func TestWordsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	defer func(le bool) { littleEndian = le }(littleEndian)
	for _, le := range []bool{false, littleEndian} {
		littleEndian = le
		for _, n := range []int{0, 1, 2, 3, 63, 64, 65, 1000, 37025} {
			w := make([]uint32, n)
			for i := range w {
				w[i] = r.Uint32()
			}
			prefix := []byte{7, 8, 9}
			got := appendWords(slices.Clone(prefix), w)
			want := slices.Clone(prefix)
			for _, x := range w {
				want = binary.LittleEndian.AppendUint32(want, x)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("little-endian path %v, %d words: encoding differs", le, n)
			}
			back := make([]uint32, n)
			readWords(back, got[len(prefix):])
			if !slices.Equal(back, w) {
				t.Fatalf("little-endian path %v, %d words: decoding differs", le, n)
			}
			m := &MaskedInput{Header: Header{Round: 9, Sender: 5, Step: StepMaskedInput}, Vector: w}
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			hand := []byte{'S', 'A', wireVersion, byte(KindMaskedInput)}
			hand = binary.LittleEndian.AppendUint64(hand, 9)
			hand = binary.LittleEndian.AppendUint32(hand, 5)
			hand = append(hand, byte(StepMaskedInput))
			hand = binary.LittleEndian.AppendUint32(hand, uint32(n))
			hand = append(hand, want[len(prefix):]...)
			if !bytes.Equal(b, hand) {
				t.Fatalf("little-endian path %v, %d words: wire bytes differ", le, n)
			}
			got2, err := Unmarshal(b, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if v := got2.(*MaskedInput).Vector; !slices.Equal(v, w) && n > 0 {
				t.Fatalf("little-endian path %v, %d words: vector differs after Unmarshal", le, n)
			}
		}
	}
}

// TestUnmarshalWithReusesVector: UnmarshalWith decodes a masked vector into
// the buffer it is given when the buffer is large enough (and allocates
// otherwise), with the same message as Unmarshal; other kinds ignore it.
func TestUnmarshalWithReusesVector(t *testing.T) {
	w := []uint32{5, 0xffffffff, 7, 1 << 31}
	b, err := Marshal(&MaskedInput{Header: Header{Round: 2, Sender: 4, Step: StepMaskedInput}, Vector: w})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 3, 4, 10} {
		buf := make([]uint32, size)
		m, err := UnmarshalWith(b, Limits{MaxVector: 4}, buf)
		if err != nil {
			t.Fatal(err)
		}
		v := m.(*MaskedInput).Vector
		if !slices.Equal(v, w) {
			t.Fatalf("buffer of %d: vector %v, want %v", size, v, w)
		}
		if aliased := size >= len(w) && &v[0] == &buf[0]; aliased != (size >= len(w)) {
			t.Fatalf("buffer of %d: aliased %v", size, aliased)
		}
	}
	if _, err := UnmarshalWith(b, Limits{MaxVector: 3}, make([]uint32, 10)); err == nil {
		t.Fatal("a vector over the limit was accepted into a large buffer")
	}
	s, _ := Marshal(&SurvivorList{Header: Header{Round: 1, Step: StepConsistencyCheck}, Survivors: []uint32{1, 2}})
	if m, err := UnmarshalWith(s, Limits{}, make([]uint32, 4)); err != nil || !slices.Equal(m.(*SurvivorList).Survivors, []uint32{1, 2}) {
		t.Fatalf("survivor list: %v, %v", m, err)
	}
}
