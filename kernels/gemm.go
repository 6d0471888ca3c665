package kernels

// The pure-Go matrix product every MatMul, Gemm, Conv and recurrent kernel
// calls. It is cache-blocked (a KC×NC panel of B stays in L2 while blocks of
// four rows of A stream over it, each row of B updating four rows of C: the
// i-k-j order, so the inner loop is a contiguous axpy) and has a separate
// matrix-vector path for M = 1. SIMD kernels replace it behind the same
// signature.

// gemmNum is the element types the matrix product handles.
type gemmNum interface {
	~float32 | ~float64 | ~int32 | ~int64
}

// Block sizes of the i-k-j loop nest: a kc×nc panel of B (256 KiB of
// float32) is reused by every row block of A.
const (
	gemmKC = 256
	gemmNC = 256
)

// gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(A) is M×K (A is stored K×M when transA), op(B) is K×N (stored N×K when
// transB), and lda, ldb, ldc are the row strides of the stored matrices.
// When beta is 0, C is not read (it may hold garbage or NaNs).
func gemmGo[T gemmNum](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	switch {
	case m == 1 && !transB:
		gemvRows(transA, n, k, alpha, a, lda, b, ldb, c)
	case m == 1:
		gemvDots(transA, n, k, alpha, a, lda, b, ldb, c)
	case !transB:
		gemmIKJ(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc)
	default:
		gemmDots(transA, m, n, k, alpha, a, lda, b, ldb, c, ldc)
	}
}

// aAt returns op(A)[i][p].
func aAt[T gemmNum](transA bool, a []T, lda, i, p int) T {
	if transA {
		return a[p*lda+i]
	}
	return a[i*lda+p]
}

// gemvRows is c += alpha·a·B for a 1×K row a and a K×N matrix B: one axpy
// per row of B.
func gemvRows[T gemmNum](transA bool, n, k int, alpha T, a []T, lda int, b []T, ldb int, c []T) {
	c = c[:n]
	for p := 0; p < k; p++ {
		av := alpha * aAt(transA, a, lda, 0, p)
		if av == 0 {
			continue
		}
		bp := b[p*ldb : p*ldb+n]
		for j, bv := range bp {
			c[j] += av * bv
		}
	}
}

// gemvDots is c += alpha·a·Bᵀ for B stored N×K: one dot product per row.
func gemvDots[T gemmNum](transA bool, n, k int, alpha T, a []T, lda int, b []T, ldb int, c []T) {
	if transA {
		for j := 0; j < n; j++ {
			br := b[j*ldb : j*ldb+k]
			var s T
			for p, bv := range br {
				s += a[p*lda] * bv
			}
			c[j] += alpha * s
		}
		return
	}
	ar := a[:k]
	for j := 0; j < n; j++ {
		c[j] += alpha * dot(ar, b[j*ldb:j*ldb+k])
	}
}

// dot is the inner product of two equal-length vectors, with four partial
// sums to shorten the dependency chain.
func dot[T gemmNum](x, y []T) T {
	y = y[:len(x)]
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// gemmIKJ is C += alpha·op(A)·B for B stored K×N, blocked over K and N, four
// rows of C at a time.
func gemmIKJ[T gemmNum](transA bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	for j0 := 0; j0 < n; j0 += gemmNC {
		nb := min(gemmNC, n-j0)
		for p0 := 0; p0 < k; p0 += gemmKC {
			p1 := min(p0+gemmKC, k)
			i := 0
			for ; i+4 <= m; i += 4 {
				c0 := c[i*ldc+j0:][:nb]
				c1 := c[(i+1)*ldc+j0:][:nb]
				c2 := c[(i+2)*ldc+j0:][:nb]
				c3 := c[(i+3)*ldc+j0:][:nb]
				for p := p0; p < p1; p++ {
					a0 := alpha * aAt(transA, a, lda, i, p)
					a1 := alpha * aAt(transA, a, lda, i+1, p)
					a2 := alpha * aAt(transA, a, lda, i+2, p)
					a3 := alpha * aAt(transA, a, lda, i+3, p)
					bp := b[p*ldb+j0:][:nb]
					c0, c1, c2, c3 := c0[:len(bp)], c1[:len(bp)], c2[:len(bp)], c3[:len(bp)]
					for j, bv := range bp {
						c0[j] += a0 * bv
						c1[j] += a1 * bv
						c2[j] += a2 * bv
						c3[j] += a3 * bv
					}
				}
			}
			for ; i < m; i++ {
				cr := c[i*ldc+j0:][:nb]
				for p := p0; p < p1; p++ {
					av := alpha * aAt(transA, a, lda, i, p)
					bp := b[p*ldb+j0:][:nb]
					cr := cr[:len(bp)]
					for j, bv := range bp {
						cr[j] += av * bv
					}
				}
			}
		}
	}
}

// gemmDots is C += alpha·op(A)·Bᵀ for B stored N×K: each row of B is read
// once per block of four rows of A, as four dot products.
func gemmDots[T gemmNum](transA bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	if transA {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				br := b[j*ldb : j*ldb+k]
				var s T
				for p, bv := range br {
					s += a[p*lda+i] * bv
				}
				c[i*ldc+j] += alpha * s
			}
		}
		return
	}
	i := 0
	for ; i+4 <= m; i += 4 {
		r0 := a[i*lda:][:k]
		r1 := a[(i+1)*lda:][:k]
		r2 := a[(i+2)*lda:][:k]
		r3 := a[(i+3)*lda:][:k]
		for j := 0; j < n; j++ {
			br := b[j*ldb:][:k]
			var s0, s1, s2, s3 T
			for p, bv := range br {
				s0 += r0[p] * bv
				s1 += r1[p] * bv
				s2 += r2[p] * bv
				s3 += r3[p] * bv
			}
			c[i*ldc+j] += alpha * s0
			c[(i+1)*ldc+j] += alpha * s1
			c[(i+2)*ldc+j] += alpha * s2
			c[(i+3)*ldc+j] += alpha * s3
		}
	}
	for ; i < m; i++ {
		ar := a[i*lda:][:k]
		for j := 0; j < n; j++ {
			c[i*ldc+j] += alpha * dot(ar, b[j*ldb:j*ldb+k])
		}
	}
}
