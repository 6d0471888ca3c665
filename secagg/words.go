package secagg

import (
	"encoding/binary"
	"unsafe"
)

// The masked vector travels as little-endian 32-bit words. On a
// little-endian CPU (amd64, arm64, …) that is the words' own memory, so
// they are copied with one memmove (and appended without first zeroing
// the new bytes) instead of a store per word; elsewhere a word loop.
// TestWordsRoundTrip checks both paths against encoding/binary.

// littleEndian reports whether this CPU stores words little-endian.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// wordBytes is the memory of w as bytes.
func wordBytes(w []uint32) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(w))
}

// appendWords appends the little-endian encoding of w to b.
func appendWords(b []byte, w []uint32) []byte {
	if littleEndian {
		return append(b, wordBytes(w)...)
	}
	n := len(b)
	b = growBytes(b, 4*len(w))[:n+4*len(w)]
	out := b[n:]
	for i, x := range w {
		binary.LittleEndian.PutUint32(out[4*i:4*i+4], x)
	}
	return b
}

// readWords decodes len(w) little-endian words from p (4·len(w) bytes).
func readWords(w []uint32, p []byte) {
	p = p[:4*len(w)]
	if littleEndian {
		copy(wordBytes(w), p)
		return
	}
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(p[4*i : 4*i+4])
	}
}
