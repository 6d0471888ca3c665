package secagg

import (
	"encoding/binary"
	"math/bits"
)

// AES-256 key expansion (FIPS 197 §5.2) for the vector mask kernel, which
// runs the rounds with VAESENC and so needs the round keys themselves;
// crypto/aes keeps its own private. TestExpandKey256 checks it against the
// FIPS 197 Appendix A.3 vector and TestMaskMatchesAESCTR against crypto/aes.

// roundKeyBytes is the size of AES-256's 15 round keys.
const roundKeyBytes = 15 * 16

// sbox is the AES S-box, computed (FIPS 197 §5.1.1): the inverse in
// GF(2^8) modulo x^8+x^4+x^3+x+1 (0 maps to 0), then the affine map
// b ⊕ rotl(b,1) ⊕ rotl(b,2) ⊕ rotl(b,3) ⊕ rotl(b,4) ⊕ 0x63.
var sbox = func() (s [256]byte) {
	for i := range 256 {
		inv := byte(0)
		if i != 0 {
			// b^254 = b^-1 in GF(2^8).
			inv = 1
			b, e := byte(i), 254
			for e > 0 {
				if e&1 == 1 {
					inv = gmul(inv, b)
				}
				b = gmul(b, b)
				e >>= 1
			}
		}
		rotl := func(x byte, k uint) byte { return x<<k | x>>(8-k) }
		s[i] = inv ^ rotl(inv, 1) ^ rotl(inv, 2) ^ rotl(inv, 3) ^ rotl(inv, 4) ^ 0x63
	}
	return s
}()

// gmul multiplies in GF(2^8) modulo 0x11b.
func gmul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 == 1 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

// expandKey256 returns the 60 words of the AES-256 key schedule, in byte
// order (round key r is bytes 16r to 16r+15). The words are kept
// big-endian in uint32s (byte 0 in the top bits), so RotWord is a rotate
// and SubWord four table lookups.
func expandKey256(key *[32]byte) (w [roundKeyBytes]byte) {
	var k [60]uint32
	for i := range 8 {
		k[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := 8; i < 60; i++ {
		t := k[i-1]
		switch i % 8 {
		case 0:
			t = subWord(bits.RotateLeft32(t, 8)) ^ rcon<<24
			rcon = uint32(gmul(byte(rcon), 2))
		case 4:
			t = subWord(t)
		}
		k[i] = k[i-8] ^ t
	}
	for i, x := range k {
		binary.BigEndian.PutUint32(w[4*i:], x)
	}
	return w
}

// subWord applies the S-box to each byte of x.
func subWord(x uint32) uint32 {
	return uint32(sbox[x>>24])<<24 | uint32(sbox[x>>16&0xff])<<16 | uint32(sbox[x>>8&0xff])<<8 | uint32(sbox[x&0xff])
}
