package secagg

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
// order (round key r is bytes 16r to 16r+15).
func expandKey256(key *[32]byte) (w [roundKeyBytes]byte) {
	copy(w[:32], key[:])
	rcon := byte(1)
	for i := 8; i < 60; i++ {
		var t [4]byte
		copy(t[:], w[4*(i-1):4*i])
		switch i % 8 {
		case 0:
			t = [4]byte{sbox[t[1]] ^ rcon, sbox[t[2]], sbox[t[3]], sbox[t[0]]}
			rcon = gmul(rcon, 2)
		case 4:
			t = [4]byte{sbox[t[0]], sbox[t[1]], sbox[t[2]], sbox[t[3]]}
		}
		for j := range 4 {
			w[4*i+j] = w[4*(i-8)+j] ^ t[j]
		}
	}
	return w
}
