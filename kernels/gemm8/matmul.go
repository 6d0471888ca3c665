package gemm8

import "fmt"

// MatMul sets C = A·B exactly: a is m×k uint8 with row stride lda ≥ k, c is
// m×n int32 with row stride ldc ≥ n. It does not allocate.
func (p *PackedB) MatMul(c []int32, a []uint8, m, lda, ldc int) {
	p.ks.matmul(p.panels, p.sums, p.k, p.n, c, a, m, lda, ldc)
}

// matmul checks shapes and runs the set's kernel.
func (ks Kernels) matmul(panels []byte, sums []int32, k, n int, c []int32, a []uint8, m, lda, ldc int) {
	if m < 0 || lda < k || ldc < n {
		panic(fmt.Sprintf("gemm8: MatMul %d×%d·%d×%d with lda %d, ldc %d", m, k, k, n, lda, ldc))
	}
	if m == 0 || n == 0 {
		return
	}
	if len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("gemm8: MatMul %d×%d·%d×%d: a has %d bytes, c %d elements", m, k, k, n, len(a), len(c)))
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	ks.impl.matmul(panels, sums, k, n, c, a, m, lda, ldc)
}

// GemmScratch returns the scratch bytes Gemm needs for a k×n B.
func GemmScratch(k, n int) int { return PackedLen(k, n) + 64 }

// Gemm sets C = A·B for an int8 B that is not constant (b is k×n with row
// stride ldb): it packs B into scratch (GemmScratch(k, n) bytes, any
// alignment) and multiplies. It does not allocate.
func (ks Kernels) Gemm(c []int32, a []uint8, m, k, n, lda int, b []int8, ldb, ldc int, scratch []byte) {
	size := PackedLen(k, n)
	if len(scratch) < size+64 {
		panic(fmt.Sprintf("gemm8: Gemm scratch has %d bytes, need %d", len(scratch), size+64))
	}
	off := 0
	if size > 0 {
		off = int((64 - uintptr(ptr8(scratch, 0))%64) % 64)
	}
	dst := scratch[off : off+size]
	PackBInto(dst, b, k, n, ldb, false)
	np, kg := dims(k, n)
	split := np * kg * rowBytes
	ks.matmul(dst[:split], int32s(dst[split:]), k, n, c, a, m, lda, ldc)
}
