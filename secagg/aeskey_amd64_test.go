//go:build amd64 && !purego

package secagg

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

func needAES(t testing.TB) {
	if !cpu.X86.HasAES {
		t.Skip("no AES-NI on this CPU: the key schedule's SubWord needs it (the mask kernel runs only with VAES)")
	}
}

// TestExpandKey256 checks the key schedule against FIPS 197 Appendix A.3
// (the last round key, w[56..59]); TestMaskMatchesAESCTR checks every
// round key through the kernel against crypto/aes.
func TestExpandKey256(t *testing.T) {
	needAES(t)
	key, _ := hex.DecodeString("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
	var k [32]byte
	copy(k[:], key)
	w := expandKey256(&k)
	if got, want := hex.EncodeToString(w[224:]), "fe4890d1e6188d0b046df344706c631e"; got != want {
		t.Fatalf("round key 14 = %s, want %s (FIPS 197 A.3)", got, want)
	}
}

// refSbox is the AES S-box from its definition (FIPS 197 §5.1.1): the
// inverse in GF(2^8) modulo x^8+x^4+x^3+x+1 (0 maps to 0), then the affine
// map b ⊕ rotl(b,1) ⊕ rotl(b,2) ⊕ rotl(b,3) ⊕ rotl(b,4) ⊕ 0x63.
func refSbox(x byte) byte {
	gmul := func(a, b byte) (p byte) {
		for ; b != 0; b >>= 1 {
			if b&1 == 1 {
				p ^= a
			}
			hi := a & 0x80
			a <<= 1
			if hi != 0 {
				a ^= 0x1b
			}
		}
		return p
	}
	inv := byte(0)
	if x != 0 {
		inv = 1
		for b, e := x, 254; e > 0; e >>= 1 { // x^254 = x^-1
			if e&1 == 1 {
				inv = gmul(inv, b)
			}
			b = gmul(b, b)
		}
	}
	rotl := func(b byte, k uint) byte { return b<<k | b>>(8-k) }
	return inv ^ rotl(inv, 1) ^ rotl(inv, 2) ^ rotl(inv, 3) ^ rotl(inv, 4) ^ 0x63
}

// aesSubWord is SubWord: every byte value in every position, and random
// words, against the S-box's definition (and FIPS 197's 0x00 → 0x63,
// 0x53 → 0xed, 0xff → 0x16).
func TestAESSubWord(t *testing.T) {
	needAES(t)
	if refSbox(0x00) != 0x63 || refSbox(0x53) != 0xed || refSbox(0xff) != 0x16 {
		t.Fatal("reference S-box is wrong")
	}
	ref := func(x uint32) uint32 {
		return uint32(refSbox(byte(x>>24)))<<24 | uint32(refSbox(byte(x>>16)))<<16 | uint32(refSbox(byte(x>>8)))<<8 | uint32(refSbox(byte(x)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 256 * 4 {
		x := r.Uint32()&^(0xff<<(8*(i%4))) | uint32(i/4)<<(8*(i%4))
		if got, want := aesSubWord(x), ref(x); got != want {
			t.Fatalf("SubWord(%#08x) = %#08x, want %#08x", x, got, want)
		}
	}
	for range 10000 {
		x := r.Uint32()
		if got, want := aesSubWord(x), ref(x); got != want {
			t.Fatalf("SubWord(%#08x) = %#08x, want %#08x", x, got, want)
		}
	}
}

// BenchmarkExpandKey256 is the key schedule every Mask call runs.
func BenchmarkExpandKey256(b *testing.B) {
	needAES(b)
	var seed [SecretSize]byte
	for b.Loop() {
		expandKey256(&seed)
	}
}
