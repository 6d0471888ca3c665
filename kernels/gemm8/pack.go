package gemm8

import (
	"fmt"
	"unsafe"
)

const (
	// panelWidth is the number of columns in one packed panel.
	panelWidth = 16
	// groupRows is the number of k values packed into one 32-bit lane.
	groupRows = 4
	// rowBytes is the size of one packed panel row: 16 lanes of 4 bytes.
	rowBytes = panelWidth * groupRows
)

// LayoutVNNI16 names the packed layout every kernel set reads: ceil(n/16)
// panels of ceil(k/4) rows of 16 four-byte lanes (lane j of row g holds
// B[4g..4g+3][16p+j]), zero-padded, followed by ceil(n/16)·16 int32 column
// sums.
const LayoutVNNI16 = "s8-k4n16-colsum"

// PackedB is an int8 k×n matrix B packed for the kernels, with its column
// sums. It is immutable and safe for concurrent use.
type PackedB struct {
	ks     Kernels
	k, n   int
	kg     int    // ceil(k/4): packed rows per panel
	data   []byte // the whole layout, panels and sums
	panels []byte
	sums   []int32 // ceil(n/16)·16 column sums (zero past n)
}

// dims returns the number of panels and of packed rows per panel.
func dims(k, n int) (np, kg int) {
	return (n + panelWidth - 1) / panelWidth, (k + groupRows - 1) / groupRows
}

// PackedLen returns the number of bytes the packed form of a k×n matrix
// takes: the panels and the column sums.
func PackedLen(k, n int) int {
	np, kg := dims(k, n)
	return np*kg*rowBytes + np*panelWidth*4
}

// PackB packs B: b is k×n row-major with row stride n or, when transposed,
// n×k with row stride k (B given as Bᵀ). The result owns fresh
// 64-byte-aligned memory.
func (ks Kernels) PackB(b []int8, k, n int, transposed bool) *PackedB {
	ld := n
	if transposed {
		ld = k
	}
	dst := alignedBytes(PackedLen(k, n))
	PackBInto(dst, b, k, n, ld, transposed)
	p, err := ks.FromPacked(dst, k, n, LayoutVNNI16)
	if err != nil {
		panic(err) // PackBInto wrote exactly this layout
	}
	return p
}

// PackB packs B for Best(); see Kernels.PackB.
func PackB(b []int8, k, n int, transposed bool) *PackedB {
	return Best().PackB(b, k, n, transposed)
}

// PackBInto writes the packed form of B, column sums included, into
// dst[:PackedLen(k, n)]. ldb is the row stride of b: of B (k rows of n) or,
// when transposed, of Bᵀ (n rows of k). dst must be 4-byte aligned. It does
// not allocate: MatMulInteger packs into scratch with it, convert into
// bundles.
func PackBInto(dst []byte, b []int8, k, n, ldb int, transposed bool) {
	size := PackedLen(k, n)
	if len(dst) < size {
		panic(fmt.Sprintf("gemm8: PackBInto: dst has %d bytes, need %d", len(dst), size))
	}
	rows, cols := k, n
	if transposed {
		rows, cols = n, k
	}
	if rows > 0 && cols > 0 && (ldb < cols || len(b) < (rows-1)*ldb+cols) {
		panic(fmt.Sprintf("gemm8: PackBInto: b has %d bytes, too few for %d×%d with stride %d", len(b), rows, cols, ldb))
	}
	np, kg := dims(k, n)
	at := func(kk, j int) int8 {
		if transposed {
			return b[j*ldb+kk]
		}
		return b[kk*ldb+j]
	}
	sums := int32s(dst[np*kg*rowBytes : size])
	clear(sums)
	for p := 0; p < np; p++ {
		panel := dst[p*kg*rowBytes : (p+1)*kg*rowBytes]
		clear(panel)
		for j := 0; j < min(panelWidth, n-p*panelWidth); j++ {
			col := p*panelWidth + j
			s := int32(0)
			for kk := 0; kk < k; kk++ {
				v := at(kk, col)
				panel[(kk/groupRows)*rowBytes+j*groupRows+kk%groupRows] = byte(v)
				s += int32(v)
			}
			sums[col] = s
		}
	}
}

// FromPacked wraps data already in layout (as stored in a bundle) without
// copying. data must be 4-byte aligned (bundles align tensors to 64). The
// PackedB keeps data; the caller must not modify it.
func (ks Kernels) FromPacked(data []byte, k, n int, layout string) (*PackedB, error) {
	if layout != LayoutVNNI16 {
		return nil, fmt.Errorf("gemm8: packed layout %q, kernel set %s reads %q", layout, ks.Name(), LayoutVNNI16)
	}
	if k < 0 || n < 0 {
		return nil, fmt.Errorf("gemm8: packed shape %d×%d is negative", k, n)
	}
	if want := PackedLen(k, n); len(data) != want {
		return nil, fmt.Errorf("gemm8: packed %d×%d matrix has %d bytes, want %d", k, n, len(data), want)
	}
	if len(data) > 0 && uintptr(unsafe.Pointer(&data[0]))%4 != 0 {
		return nil, fmt.Errorf("gemm8: packed data is not 4-byte aligned")
	}
	np, kg := dims(k, n)
	split := np * kg * rowBytes
	return &PackedB{ks: ks, k: k, n: n, kg: kg, data: data, panels: data[:split], sums: int32s(data[split:])}, nil
}

// With returns p read by kernel set ks (the data is shared, not copied).
func (p *PackedB) With(ks Kernels) *PackedB {
	q := *p
	q.ks = ks
	return &q
}

// Kernels returns the set whose kernels MatMul runs.
func (p *PackedB) Kernels() Kernels { return p.ks }

// K returns the number of rows of B.
func (p *PackedB) K() int { return p.k }

// N returns the number of columns of B.
func (p *PackedB) N() int { return p.n }

// Layout names the packed layout, the key under which bundles store it.
func (p *PackedB) Layout() string { return LayoutVNNI16 }

// Data returns the packed bytes (read-only), for writing a bundle.
func (p *PackedB) Data() []byte { return p.data }

// ColSums returns Σ_k B[k][j] for each column j (read-only, length n): the
// zero-point correction, (a − z)·B = a·B − z·ColSums.
func (p *PackedB) ColSums() []int32 { return p.sums[:p.n] }

// int32s reinterprets 4-byte-aligned little-endian bytes as int32s.
func int32s(b []byte) []int32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// alignedBytes returns n zeroed bytes starting on a 64-byte boundary.
func alignedBytes(n int) []byte {
	buf := make([]byte, n+64)
	off := 0
	if n > 0 {
		off = int((64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64)
	}
	return buf[off : off+n : off+n]
}
