package kernels

// The pure-Go 8-bit matrix product under every quantized kernel. Products of
// 8-bit values are exact in int32, and so are their sums for K < 2^16
// (|a·b| ≤ 2^15), so the result does not depend on the summation order and
// a SIMD kernel (VPDPBUSD multiplies uint8 by int8 and adds four products
// into an int32 lane, SDOT int8 by int8 on arm64) must give identical bits.
//
// The loop is i-k-j like gemm.go's: each row of C, qgemmNC columns at a
// time, is updated by four rows of B per pass (c[j] += a0·b0[j] + a1·b1[j] +
// a2·b2[j] + a3·b3[j]), which quarters the loads and stores of C; groups of
// four zero elements of A (ReLU outputs with a zero point of 0) are skipped.
// A K×qgemmNC panel of B (256 KiB for K = 1024) stays in L2 while the rows
// of A stream over it.

// qgemmNC is the column block width.
const qgemmNC = 256

// qgemm sets C = A·B for an M×K matrix A (row stride lda) and a K×N matrix B
// (row stride ldb) of 8-bit elements; C (row stride ldc) is overwritten.
func qgemm[TA, TB quantElem](m, n, k int, a []TA, lda int, b []TB, ldb int, c []int32, ldc int) {
	for j0 := 0; j0 < n; j0 += qgemmNC {
		nb := min(qgemmNC, n-j0)
		for i := 0; i < m; i++ {
			cr := c[i*ldc+j0 : i*ldc+j0+nb]
			clear(cr)
			ar := a[i*lda : i*lda+k]
			p := 0
			for ; p+4 <= k; p += 4 {
				a0, a1, a2, a3 := int32(ar[p]), int32(ar[p+1]), int32(ar[p+2]), int32(ar[p+3])
				if a0|a1|a2|a3 == 0 {
					continue
				}
				off := p*ldb + j0
				b0 := b[off : off+nb]
				b1 := b[off+ldb : off+ldb+nb]
				b2 := b[off+2*ldb : off+2*ldb+nb]
				b3 := b[off+3*ldb : off+3*ldb+nb]
				qaxpy4(cr, a0, a1, a2, a3, b0, b1, b2, b3)
			}
			for ; p < k; p++ {
				av := int32(ar[p])
				if av == 0 {
					continue
				}
				bp := b[p*ldb+j0 : p*ldb+j0+nb]
				bp = bp[:len(cr)]
				for j, bv := range bp {
					cr[j] += av * int32(bv)
				}
			}
		}
	}
}

// qaxpy4 adds a0·b0 + a1·b1 + a2·b2 + a3·b3 to c. It is not inlined so
// that its loop gets the registers to itself (inlined into qgemm it spills).
//
//go:noinline
func qaxpy4[TB quantElem](c []int32, a0, a1, a2, a3 int32, b0, b1, b2, b3 []TB) {
	b0, b1, b2, b3 = b0[:len(c)], b1[:len(c)], b2[:len(c)], b3[:len(c)]
	for j := range c {
		c[j] += a0*int32(b0[j]) + a1*int32(b1[j]) + a2*int32(b2[j]) + a3*int32(b3[j])
	}
}

// qColSums sets dst[j] to the sum of column j of the K×N matrix b.
func qColSums[T quantElem](k, n int, b []T, ldb int, dst []int32) {
	dst = dst[:n]
	clear(dst)
	for p := 0; p < k; p++ {
		row := b[p*ldb : p*ldb+n]
		for j, v := range row {
			dst[j] += int32(v)
		}
	}
}

// qRowSums sets dst[i] to the sum of row i of the M×K matrix a.
func qRowSums[T quantElem](m, k int, a []T, lda int, dst []int32) {
	for i := 0; i < m; i++ {
		s := int32(0)
		for _, v := range a[i*lda : i*lda+k] {
			s += int32(v)
		}
		dst[i] = s
	}
}

// Packed int8 weights for a pure-Go SWAR product
//
// Without SIMD, Go multiplies one pair per instruction. qgemmPacked gets
// four per 64-bit multiply instead: a constant int8 B is stored offset to
// unsigned (b' = b + 128, 0…255) in four 16-bit lanes of a uint64 (columns
// 4g…4g+3 of row k). A uint8 a times that word gives four exact products
// (a·b' ≤ 255² < 2^16) in their lanes; masking with laneMask keeps lanes 0
// and 2 (columns 4g, 4g+2) and shifting by 16 first keeps lanes 1 and 3, each
// added into a 32-bit lane of an even or odd accumulator word, which holds
// K·255² < 2^32 for K < 66052. Finally Σ a·b = Σ a·b' − 128·Σ a. The packed
// matrix takes 2 bytes per weight (half of float32), made once at compile
// time from the bundle's int8 [K, N].

// laneMask keeps 16-bit lanes 0 and 2 of a word, as 32-bit lanes.
const laneMask = 0x0000FFFF0000FFFF

// qPackedMaxK is the largest K whose 32-bit lane sums cannot overflow.
const qPackedMaxK = 66051

// qPackedB is an int8 K×N matrix packed for qgemmPacked: row k, group g
// at p[k*groups+g], groups = ⌈N/4⌉ (missing columns hold b' = 0).
type qPackedB struct {
	k, n, groups int
	p            []uint64
}

// packQB packs the int8 K×N matrix b (row stride n).
func packQB(b []int8, k, n int) *qPackedB {
	pb := &qPackedB{k: k, n: n, groups: (n + 3) / 4}
	pb.p = make([]uint64, k*pb.groups)
	for r := 0; r < k; r++ {
		for j, v := range b[r*n : (r+1)*n] {
			pb.p[r*pb.groups+j/4] |= uint64(uint8(int16(v)+128)) << (16 * (j % 4))
		}
	}
	return pb
}

// qgemmPacked sets C = A·B for an M×K uint8 A (row stride lda) and a packed
// B; C (row stride ldc) is overwritten. acc is 2·groups words of scratch.
func qgemmPacked(m int, a []uint8, lda int, pb *qPackedB, c []int32, ldc int, acc []uint64) {
	g, k := pb.groups, pb.k
	even, odd := acc[:g], acc[g:2*g]
	for i := 0; i < m; i++ {
		ar := a[i*lda : i*lda+k]
		clear(even)
		clear(odd)
		sum := int64(0)
		p := 0
		for ; p+4 <= k; p += 4 {
			a0, a1, a2, a3 := uint64(ar[p]), uint64(ar[p+1]), uint64(ar[p+2]), uint64(ar[p+3])
			sum += int64(a0 + a1 + a2 + a3)
			if a0|a1|a2|a3 == 0 {
				continue
			}
			qswar4(even, odd, a0, a1, a2, a3, pb.p[p*g:(p+4)*g])
		}
		for ; p < k; p++ {
			a0 := uint64(ar[p])
			sum += int64(a0)
			qswar2(even, odd, a0, 0, pb.p[p*g:(p+1)*g], pb.p[p*g:(p+1)*g])
		}
		off := 128 * sum
		cr := c[i*ldc : i*ldc+pb.n]
		for q := range even {
			e, o := even[q], odd[q]
			lanes := [4]int64{int64(uint32(e)), int64(uint32(o)), int64(e >> 32), int64(o >> 32)}
			for l, v := range lanes {
				if j := 4*q + l; j < len(cr) {
					cr[j] = int32(v - off)
				}
			}
		}
	}
}

// qswar4 adds a0·p[0:g] + a1·p[g:2g] + a2·p[2g:3g] + a3·p[3g:4g] (four
// rows of packed B) into the even and odd accumulators (g words each).
//
//go:noinline
func qswar4(even, odd []uint64, a0, a1, a2, a3 uint64, p []uint64) {
	const m = laneMask
	g := len(even)
	odd = odd[:g]
	p0, p1, p2, p3 := p[:g], p[g:2*g], p[2*g:3*g], p[3*g:4*g]
	for q := range even {
		x0, x1 := a0*p0[q], a1*p1[q]
		e, o := x0&m+x1&m, (x0>>16)&m+(x1>>16)&m
		x2, x3 := a2*p2[q], a3*p3[q]
		even[q] += e + x2&m + x3&m
		odd[q] += o + (x2>>16)&m + (x3>>16)&m
	}
}

// qswar2 adds a0·p0 + a1·p1 (four columns per word) into the even and odd
// accumulators. Not inlined: its loop needs the registers to itself.
//
//go:noinline
func qswar2(even, odd []uint64, a0, a1 uint64, p0, p1 []uint64) {
	odd, p0, p1 = odd[:len(even)], p0[:len(even)], p1[:len(even)]
	const m = laneMask
	for q := range even {
		x0, x1 := a0*p0[q], a1*p1[q]
		even[q] += x0&m + x1&m
		odd[q] += (x0>>16)&m + (x1>>16)&m
	}
}
