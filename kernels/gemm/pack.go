package gemm

import (
	"fmt"
	"unsafe"
)

// panelWidth is the number of columns in one packed panel.
const panelWidth = 16

// LayoutPanel16 names the packed layout every kernel set reads: ceil(n/16)
// panels of k rows × 16 floats, zero-padded past column n.
const LayoutPanel16 = "f32-panel16"

// PackedB is a k×n matrix B packed for one kernel set. It is immutable and
// safe for concurrent use.
type PackedB struct {
	ks   Kernels
	k, n int
	data []float32
}

// PackedLen returns the number of floats the packed form of a k×n matrix
// takes.
func PackedLen(k, n int) int {
	return (n + panelWidth - 1) / panelWidth * panelWidth * k
}

// PackB packs B for the set: b is k×n row-major with row stride n, or, when
// transposed, n×k with row stride k (B given as Bᵀ, as ONNX Gemm with
// transB=1 stores weights). The result owns fresh 64-byte-aligned memory.
func (ks Kernels) PackB(b []float32, k, n int, transposed bool) *PackedB {
	ld := n
	if transposed {
		ld = k
	}
	dst := alignedFloats(PackedLen(k, n))
	PackBInto(dst, b, k, n, ld, transposed)
	return &PackedB{ks: ks, k: k, n: n, data: dst}
}

// PackB packs B for Best(); see Kernels.PackB.
func PackB(b []float32, k, n int, transposed bool) *PackedB {
	return Best().PackB(b, k, n, transposed)
}

// PackBInto writes the packed form of B into dst[:PackedLen(k, n)]. ldb is
// the row stride of b: of B (k rows of n) or, when transposed, of Bᵀ (n
// rows of k). It does not allocate; Gemm uses it to pack into scratch and
// convert uses it to write bundles.
func PackBInto(dst, b []float32, k, n, ldb int, transposed bool) {
	checkPackB(dst, b, k, n, ldb, transposed)
	packPanels(dst, b, k, n, ldb, transposed, 0, (n+panelWidth-1)/panelWidth)
}

// checkPackB panics unless PackBInto's arguments fit together.
func checkPackB(dst, b []float32, k, n, ldb int, transposed bool) {
	size := PackedLen(k, n)
	if len(dst) < size {
		panic(fmt.Sprintf("gemm: PackBInto: dst has %d floats, need %d", len(dst), size))
	}
	rows, cols := k, n
	if transposed {
		rows, cols = n, k
	}
	if rows > 0 && cols > 0 && (ldb < cols || len(b) < (rows-1)*ldb+cols) {
		panic(fmt.Sprintf("gemm: PackBInto: b has %d floats, too few for %d×%d with stride %d", len(b), rows, cols, ldb))
	}
}

// packPanels writes panels [p0, p1) of B's packed form into dst; arguments
// are as for PackBInto, already checked.
func packPanels(dst, b []float32, k, n, ldb int, transposed bool, p0, p1 int) {
	for p := p0; p < p1; p++ {
		j0 := p * panelWidth
		w := min(panelWidth, n-j0)
		panel := dst[p*panelWidth*k : (p+1)*panelWidth*k]
		for kk := 0; kk < k; kk++ {
			row := panel[kk*panelWidth : (kk+1)*panelWidth]
			if transposed {
				for j := 0; j < w; j++ {
					row[j] = b[(j0+j)*ldb+kk]
				}
			} else {
				copy(row[:w], b[kk*ldb+j0:kk*ldb+j0+w])
			}
			clear(row[w:])
		}
	}
}

// FromPacked wraps data already in layout (as stored in a bundle) without
// copying. The PackedB keeps data; the caller must not modify it.
func (ks Kernels) FromPacked(data []float32, k, n int, layout string) (*PackedB, error) {
	if layout != LayoutPanel16 {
		return nil, fmt.Errorf("gemm: packed layout %q, kernel set %s reads %q", layout, ks.Name(), LayoutPanel16)
	}
	if k < 0 || n < 0 {
		return nil, fmt.Errorf("gemm: packed shape %d×%d is negative", k, n)
	}
	if want := PackedLen(k, n); len(data) != want {
		return nil, fmt.Errorf("gemm: packed %d×%d matrix has %d floats, want %d", k, n, len(data), want)
	}
	return &PackedB{ks: ks, k: k, n: n, data: data}, nil
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
func (p *PackedB) Layout() string { return LayoutPanel16 }

// Data returns the packed floats (read-only), for writing a bundle.
func (p *PackedB) Data() []float32 { return p.data }

// alignedFloats returns n zeroed floats starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	buf := make([]float32, n+16)
	off := 0
	if n > 0 {
		addr := uintptr(unsafe.Pointer(&buf[0]))
		off = int((64 - addr%64) % 64 / 4)
	}
	return buf[off : off+n : off+n]
}
