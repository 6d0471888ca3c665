//go:build !purego

package gemm

// neon6x16 computes a full 6×16 tile of C (+)= A·B for one packed panel;
// acc != 0 adds to C instead of overwriting it. Hand-written in
// gemm_arm64.s.
//
//go:noescape
func neon6x16(a *float32, lda int, b *float32, k int, c *float32, ldc int, acc int)

// neon1x16 computes c (+)= a·B for np consecutive packed panels of k rows,
// 16 columns of c per panel; acc != 0 adds to c.
//
//go:noescape
func neon1x16(a *float32, b *float32, k int, c *float32, np int, acc int)

// peakNEON runs iters iterations of 24 independent 4-lane FMLAs.
func peakNEON(iters int)
