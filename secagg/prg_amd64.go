//go:build amd64 && !purego

package secagg

import "golang.org/x/sys/cpu"

// hasVAES512 reports whether the fused kernel runs here: VAES and VPSHUFB on
// ZMM registers (AVX512F, AVX512BW).
var hasVAES512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VAES

// maskVectorWords is how many words ctrMask512 handles per iteration
// (sixteen AES blocks).
const maskVectorWords = 64

// ctrMask512 adds (neg: subtracts) AES-256-CTR keystream blocks to
// chunks × 64 words at dst, with the expanded key rk; ctr holds the first
// four blocks' counters as (0, c), (0, c+1), (0, c+2), (0, c+3) (each
// block's counter is the high quadword of its lane). It is in
// prg_amd64.s.
//
//go:noescape
func ctrMask512(rk *[roundKeyBytes]byte, dst *uint32, chunks int, neg bool, ctr *[8]uint64)

// maskFast masks all of dst with the vector kernel and returns len(dst)
// (0 without VAES/AVX-512): the 64-word chunks in place, then the last
// words (fewer than 64) as one more chunk in a buffer, from the block
// counter after the chunks', so no crypto/aes cipher is made for them.
func maskFast(dst []uint32, seed *[SecretSize]byte, neg bool) int {
	if !hasVAES512 || len(dst) == 0 {
		return 0
	}
	rk := expandKey256(seed)
	chunks := len(dst) / maskVectorWords
	ctr := [8]uint64{0, 0, 0, 1, 0, 2, 0, 3}
	if chunks > 0 {
		ctrMask512(&rk, &dst[0], chunks, neg, &ctr)
	}
	if tail := dst[chunks*maskVectorWords:]; len(tail) > 0 {
		// 16 blocks a chunk: the tail starts at block 16·chunks.
		base := 16 * uint64(chunks)
		ctr = [8]uint64{0, base, 0, base + 1, 0, base + 2, 0, base + 3}
		var buf [maskVectorWords]uint32
		copy(buf[:], tail)
		ctrMask512(&rk, &buf[0], 1, neg, &ctr)
		copy(tail, buf[:])
	}
	return len(dst)
}
