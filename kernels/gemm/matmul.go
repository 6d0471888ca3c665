package gemm

import (
	"fmt"
	"unsafe"
)

// MatMul computes C = act(A·B + bias) with B = p: A is m×k with row stride
// lda, C is m×n with row stride ldc, bias is nil or holds n values, and
// alpha is LeakyRelu's slope. m == 1 runs the GEMV kernel. A large product
// is split across the threads of the set's pool (see WithPool). It does not
// allocate and is safe for concurrent use with distinct C.
func (p *PackedB) MatMul(c, a []float32, m, lda, ldc int, bias []float32, act Activation, alpha float32) {
	k, n := p.k, p.n
	checkMatrix("A", a, m, k, lda)
	checkMatrix("C", c, m, n, ldc)
	ep := checkEpilogue(bias, n, act, alpha)
	if m == 0 || n == 0 {
		return
	}
	var ap unsafe.Pointer
	if k > 0 {
		ap = unsafe.Pointer(unsafe.SliceData(a))
	}
	p.ks.matmul(p.data, k, n, unsafe.Pointer(unsafe.SliceData(c)), ap, m, lda, ldc, ep)
}

// ScratchSize returns the number of float32s of scratch Gemm needs for an
// m×k by k×n product (room to pack B and, for transA, to transpose A).
// Kernels' Step.Scratch is in bytes: multiply by 4.
func ScratchSize(m, k, n int) int {
	return PackedLen(k, n) + m*k + panelWidth
}

// Gemm computes C = act(op(A)·op(B) + bias) when both operands are
// activations: op(A) is m×k, given as A (row stride lda) or, with transA, as
// Aᵀ (k×m, row stride lda); op(B) is k×n, given as B (row stride ldb) or,
// with transB, as Bᵀ (n×k, row stride ldb). It packs into scratch, which
// must hold ScratchSize(m, k, n) floats, and does not allocate.
func (ks Kernels) Gemm(c, a, b []float32, m, k, n, lda, ldb, ldc int, transA, transB bool, bias []float32, act Activation, alpha float32, scratch []float32) {
	if need := ScratchSize(m, k, n); len(scratch) < need {
		panic(fmt.Sprintf("gemm: Gemm scratch has %d floats, need %d", len(scratch), need))
	}
	if m == 0 || n == 0 {
		checkMatrix("C", c, m, n, ldc)
		checkEpilogue(bias, n, act, alpha)
		return
	}
	// Keep the packed panels 64-byte aligned, as PackB does.
	off := 0
	if len(scratch) > 0 {
		off = int((64 - uintptr(unsafe.Pointer(&scratch[0]))%64) % 64 / 4)
	}
	size := PackedLen(k, n)
	packed := scratch[off : off+size : off+size]
	ks.packB(packed, b, k, n, ldb, transB)
	p := PackedB{ks: ks, k: k, n: n, data: packed}
	if transA {
		checkMatrix("Aᵀ", a, k, m, lda)
		at := scratch[off+size : off+size+m*k]
		for i := 0; i < m; i++ {
			for kk := 0; kk < k; kk++ {
				at[i*k+kk] = a[kk*lda+i]
			}
		}
		a, lda = at, k
	}
	p.MatMul(c, a, m, lda, ldc, bias, act, alpha)
}

// checkMatrix panics unless x holds a rows×cols matrix with row stride ld.
func checkMatrix(name string, x []float32, rows, cols, ld int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("gemm: %s is %d×%d", name, rows, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("gemm: %s row stride %d < %d columns", name, ld, cols))
	}
	if len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("gemm: %s has %d floats, too few for %d×%d with stride %d", name, len(x), rows, cols, ld))
	}
}

func checkEpilogue(bias []float32, n int, act Activation, alpha float32) epilogue {
	if act > LeakyRelu {
		panic(fmt.Sprintf("gemm: activation %v is not fused", act))
	}
	ep := epilogue{act: act, alpha: alpha}
	if bias != nil {
		if len(bias) < n {
			panic(fmt.Sprintf("gemm: bias has %d floats, need %d", len(bias), n))
		}
		if n > 0 {
			ep.bias = unsafe.Pointer(unsafe.SliceData(bias))
		}
	}
	return ep
}

// MatMulPanels computes C = act(A·B + bias) like PackedB.MatMul, with B (k×n)
// already in the LayoutPanel16 layout in caller memory: panels[:PackedLen(k,
// n)], 64-byte aligned for speed. It is for kernels that write an activation
// operand straight into panels (the 1-D convolution builds its im2col matrix
// that way) and need no PackedB; it does not allocate.
func (ks Kernels) MatMulPanels(c, a, panels []float32, m, k, n, lda, ldc int, bias []float32, act Activation, alpha float32) {
	size := PackedLen(k, n)
	if len(panels) < size {
		panic(fmt.Sprintf("gemm: MatMulPanels: %d floats of panels, need %d", len(panels), size))
	}
	p := PackedB{ks: ks, k: k, n: n, data: panels[:size:size]}
	p.MatMul(c, a, m, lda, ldc, bias, act, alpha)
}
