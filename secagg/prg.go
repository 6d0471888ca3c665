package secagg

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// prgBlock is how many keystream bytes the portable mask expansion produces
// at a time.
const prgBlock = 16 << 10

// Mask expands a 32-byte seed with AES-256-CTR (zero IV, big-endian block
// counter; every seed keys one mask only) into len(dst) little-endian words
// and adds them to dst modulo 2^32, or subtracts them when neg is set. It is
// the PRG of Bonawitz et al. §3 for both the self mask PRG(b_u) and the
// pairwise masks PRG(s_uv).
//
// On amd64 with VAES and AVX-512 the keystream is made sixteen blocks at a
// time in vector registers and added to dst in the same pass (no keystream
// buffer; the last words go through a one-chunk buffer); elsewhere
// crypto/aes's CTR mode fills scratch (if at least prgBlock bytes; else a
// buffer is allocated) and a word loop adds it. Both produce the same
// words (TestMaskMatchesAESCTR).
func Mask(dst []uint32, seed *[SecretSize]byte, neg bool, scratch []byte) {
	if len(dst) == 0 {
		return
	}
	if maskFast(dst, seed, neg) == len(dst) {
		return
	}
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	maskCTR(dst, block, neg, scratch)
}

// maskCTR is the portable expansion: crypto/aes CTR keystream into scratch,
// then a word loop.
func maskCTR(dst []uint32, block cipher.Block, neg bool, scratch []byte) {
	var iv [aes.BlockSize]byte
	ctr := cipher.NewCTR(block, iv[:])
	if len(scratch) < prgBlock {
		scratch = make([]byte, prgBlock)
	}
	buf := scratch[:prgBlock]
	for len(dst) > 0 {
		n := min(len(dst), prgBlock/4)
		b := buf[:4*n]
		ctr.XORKeyStream(b, zeroBlock[:4*n])
		addWords(dst[:n], b, neg)
		dst = dst[n:]
	}
}

// zeroBlock is the all-zero plaintext whose CTR encryption is the keystream.
var zeroBlock [prgBlock]byte

// addWords adds (or subtracts) the little-endian words of b to d.
func addWords(d []uint32, b []byte, neg bool) {
	b = b[:4*len(d)]
	if neg {
		for i := range d {
			d[i] -= binary.LittleEndian.Uint32(b[4*i:])
		}
		return
	}
	for i := range d {
		d[i] += binary.LittleEndian.Uint32(b[4*i:])
	}
}

// NewScratch returns a keystream buffer for Mask.
func NewScratch() []byte { return make([]byte, prgBlock) }
