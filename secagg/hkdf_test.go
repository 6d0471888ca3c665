package secagg

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestHKDFMatchesStdlib checks the hand-written HMAC and HKDF against
// crypto/hmac and crypto/hkdf for keys, messages and infos of every length
// they accept, and derive against hkdf.Key of its info layout.
func TestHKDFMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for kl := 0; kl <= hmacBlock; kl++ {
		for ml := 0; ml <= hmacMaxMsg; ml += 1 + kl%7 {
			key, msg := fill(kl), fill(ml)
			split := 0
			if ml > 0 {
				split = r.IntN(ml + 1)
			}
			got := hmacSHA256(key, msg[:split], msg[split:])
			h := hmac.New(sha256.New, key)
			h.Write(msg)
			if want := h.Sum(nil); !bytes.Equal(got[:], want) {
				t.Fatalf("hmac key %d bytes, msg %d bytes: %x, want %x", kl, ml, got, want)
			}
		}
	}
	for il := 0; il < hmacMaxMsg; il += 3 {
		ikm, info := fill(32), fill(il)
		got := hkdfSHA256(ikm, info)
		want, err := hkdf.Key(sha256.New, ikm, nil, string(info), 32)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:], want) {
			t.Fatalf("hkdf info %d bytes: %x, want %x", il, got, want)
		}
	}
	for _, label := range []string{labelAEAD, labelMask} {
		for range 200 {
			secret := fill(32)
			round, u, v := r.Uint64(), r.Uint32(), r.Uint32()
			got := derive(secret, label, round, u, v)
			lo, hi := min(u, v), max(u, v)
			info := binary.LittleEndian.AppendUint64([]byte(label), round)
			info = binary.LittleEndian.AppendUint32(info, lo)
			info = binary.LittleEndian.AppendUint32(info, hi)
			want, err := hkdf.Key(sha256.New, secret, nil, string(info), 32)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Fatalf("derive(%q, %d, %d, %d) = %x, want %x", label, round, u, v, got, want)
			}
		}
	}
}

// TestHKDFVector is RFC 5869 Appendix A.3 (SHA-256, no salt, no info)
// truncated to the 32 bytes hkdfSHA256 returns.
func TestHKDFVector(t *testing.T) {
	ikm := bytes.Repeat([]byte{0x0b}, 22)
	got := hkdfSHA256(ikm, nil)
	want := "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("got %x, want %s", got, want)
	}
}

// BenchmarkDerive is one key derivation (3k a client a round).
func BenchmarkDerive(b *testing.B) {
	secret := make([]byte, 32)
	for b.Loop() {
		derive(secret, labelMask, 7, 3, 9)
	}
}

// BenchmarkDeriveStdlib is the same derivation through crypto/hkdf.
func BenchmarkDeriveStdlib(b *testing.B) {
	secret := make([]byte, 32)
	info := binary.LittleEndian.AppendUint64([]byte(labelMask), 7)
	info = binary.LittleEndian.AppendUint32(info, 3)
	info = binary.LittleEndian.AppendUint32(info, 9)
	for b.Loop() {
		hkdf.Key(sha256.New, secret, nil, string(info), 32)
	}
}
