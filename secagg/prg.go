package secagg

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// prgBlock is how many keystream bytes a mask expansion produces at a time.
const prgBlock = 16 << 10

// Mask expands a 32-byte seed with AES-256-CTR (zero IV; every seed keys one
// mask only) into len(dst) little-endian words and adds them to dst modulo
// 2^32, or subtracts them when neg is set. It is the PRG of Bonawitz et al.
// §3 for both the self mask PRG(b_u) and the pairwise masks PRG(s_uv).
// scratch, if at least prgBlock bytes, is used as the keystream buffer.
func Mask(dst []uint32, seed *[SecretSize]byte, neg bool, scratch []byte) {
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	var iv [aes.BlockSize]byte
	ctr := cipher.NewCTR(block, iv[:])
	if len(scratch) < prgBlock {
		scratch = make([]byte, prgBlock)
	}
	buf := scratch[:prgBlock]
	for len(dst) > 0 {
		n := min(len(dst), prgBlock/4)
		b := buf[:4*n]
		clear(b)
		ctr.XORKeyStream(b, b)
		d := dst[:n]
		if neg {
			for i := range d {
				d[i] -= binary.LittleEndian.Uint32(b[4*i:])
			}
		} else {
			for i := range d {
				d[i] += binary.LittleEndian.Uint32(b[4*i:])
			}
		}
		dst = dst[n:]
	}
}

// NewScratch returns a keystream buffer for Mask.
func NewScratch() []byte { return make([]byte, prgBlock) }
