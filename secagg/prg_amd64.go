//go:build amd64 && !purego

package secagg

import "golang.org/x/sys/cpu"

// hasVAES512 reports whether the fused kernel runs here: VAES and VPSHUFB on
// ZMM registers (AVX512F, AVX512BW).
var hasVAES512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VAES

// maskVectorWords is how many words ctrMask512 handles per iteration
// (sixteen AES blocks).
const maskVectorWords = 64

// ctrMask512 adds (neg: subtracts) AES-256-CTR keystream blocks 0, 1, … to
// chunks × 64 words at dst, with the expanded key rk. It is in prg_amd64.s.
//
//go:noescape
func ctrMask512(rk *[roundKeyBytes]byte, dst *uint32, chunks int, neg bool)

// maskFast masks the longest prefix of dst that is a multiple of 64 words
// with the vector kernel and returns its length (0 without VAES/AVX-512).
func maskFast(dst []uint32, seed *[SecretSize]byte, neg bool) int {
	chunks := len(dst) / maskVectorWords
	if !hasVAES512 || chunks == 0 {
		return 0
	}
	rk := expandKey256(seed)
	ctrMask512(&rk, &dst[0], chunks, neg)
	return chunks * maskVectorWords
}
