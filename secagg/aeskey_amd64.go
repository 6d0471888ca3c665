//go:build amd64 && !purego

package secagg

import (
	"encoding/binary"
	"math/bits"
)

// AES-256 key expansion (FIPS 197 §5.2) for the vector mask kernel, which
// runs the rounds with VAESENC and so needs the round keys themselves;
// crypto/aes keeps its own private. SubWord is the AES instruction's own
// S-box (aesSubWord, AESENCLAST), never a table indexed by key bytes, which
// would leak them through the cache. TestExpandKey256 checks it against the
// FIPS 197 Appendix A.3 vector and TestMaskMatchesAESCTR against crypto/aes.

// roundKeyBytes is the size of AES-256's 15 round keys.
const roundKeyBytes = 15 * 16

// expandKey256 returns the 60 words of the AES-256 key schedule, in byte
// order (round key r is bytes 16r to 16r+15). The words are kept
// big-endian in uint32s (byte 0 in the top bits), so RotWord is a rotate
// and SubWord one AESENCLAST (aesSubWord).
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
			t = aesSubWord(bits.RotateLeft32(t, 8)) ^ rcon<<24
			rcon <<= 1 // 1, 2, …, 0x40: seven times, never past a byte
		case 4:
			t = aesSubWord(t)
		}
		k[i] = k[i-8] ^ t
	}
	for i, x := range k {
		binary.BigEndian.PutUint32(w[4*i:], x)
	}
	return w
}

// aesSubWord applies the AES S-box to each byte of x: AESENCLAST with a
// zero round key on x in all four columns (ShiftRows then moves nothing).
// It needs AES-NI, which every CPU with VAES has. In prg_amd64.s.
func aesSubWord(x uint32) uint32
