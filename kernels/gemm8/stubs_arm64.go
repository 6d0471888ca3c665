//go:build !purego

package gemm8

// The arm64 kernels, hand-written in gemm8_arm64.s. Each computes int32 C
// (+)= A·B for uint8 A and one or more packed int8 panels of 16 columns,
// over kg groups of 4 k values; acc == 0 overwrites C (adding the 128·sums
// correction of the A ^ 0x80 trick), acc != 0 adds to C. A rows are read
// kg·4 bytes each, never further.

// sdotM4 computes a full 4×16 tile with SDOT (FEAT_DotProd).
//
//go:noescape
func sdotM4(a *uint8, lda int, b *byte, kg int, c *int32, ldc int, sums *int32, acc int)

// sdotM2 computes a full 2×16 tile with SDOT.
//
//go:noescape
func sdotM2(a *uint8, lda int, b *byte, kg int, c *int32, ldc int, sums *int32, acc int)

// sdotGemv computes c (+)= a·B for np consecutive panels (ps bytes apart)
// with SDOT.
//
//go:noescape
func sdotGemv(a *uint8, b *byte, ps int, kg int, c *int32, sums *int32, np int, acc int)

// neonM2 computes a full 2×16 tile with SMULL/SMULL2/SADALP (any ARMv8-A).
//
//go:noescape
func neonM2(a *uint8, lda int, b *byte, kg int, c *int32, ldc int, sums *int32, acc int)

// neonGemv computes c (+)= a·B for np consecutive panels (ps bytes apart)
// with SMULL/SMULL2/SADALP.
//
//go:noescape
func neonGemv(a *uint8, b *byte, ps int, kg int, c *int32, sums *int32, np int, acc int)
