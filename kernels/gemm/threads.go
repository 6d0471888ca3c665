package gemm

import (
	"unsafe"

	"github.com/sextant-ml/sextant/kernels/parallel"
)

// Intra-op parallelism: a Kernels value (and the PackedB matrices packed
// with it) may carry a parallel.Pool. MatMul, Gemm and MatMulPanels then
// split products large enough to repay the hand-off (a few microseconds of
// synchronisation and cache-line traffic) across the pool's threads: batch-1 GEMV over groups
// of 64 columns (four panels, one AVX-512 group), taller products over
// blocks of rows, short wide ones over column groups. Every thread runs the
// same single-threaded kernel on its own rows or columns of C, so results
// are bit-identical to one thread. Without a pool, or with a one-thread
// pool, nothing changes: one nil test on the call.

// Thresholds, in multiply-adds, below which a product stays on the calling
// goroutine. A batch-1 GEMV streams its weights once, so it pays off from
// about half a megabyte of panels; a GEMM reuses them and needs more work:
// 2²⁰ multiply-adds is about 8 µs on one AVX-512 core at 270 GFLOP/s. At
// 2¹⁸ the 1-D conv net of bench/ (products of 2 µs) ran twice as slow on
// two threads as on one (13.5 → 27.6 µs, 2026-11-26, idle machine); at 2²⁰
// it runs as on one thread, and MatMul 256³ still splits (1.7×).
const (
	parallelGEMVMin = 1 << 17
	parallelGEMMMin = 1 << 20
	// parallelPackMin is the smallest B (floats) Gemm packs in parallel.
	parallelPackMin = 1 << 16
)

// Split units: rows of C per unit for row splits (the tile height of the
// SIMD sets), columns per unit for column splits.
const (
	rowUnit = 6
	colUnit = 64
)

// WithPool returns ks splitting large products across pool's threads. A nil
// pool, or one of one thread, makes every product run on the calling
// goroutine (the default).
func (ks Kernels) WithPool(pool *parallel.Pool) Kernels {
	ks.pool = pool
	return ks
}

// Pool returns the pool ks splits products across, or nil.
func (ks Kernels) Pool() *parallel.Pool { return ks.pool }

// WithPool returns p multiplied on pool's threads (the data is shared, not
// copied); see Kernels.WithPool.
func (p *PackedB) WithPool(pool *parallel.Pool) *PackedB {
	q := *p
	q.ks.pool = pool
	return &q
}

// matmul runs the set's kernel on C = A·B, split across the pool when there
// is one and the product is large enough.
func (ks Kernels) matmul(b []float32, k, n int, c, a unsafe.Pointer, m, lda, ldc int, ep epilogue) {
	if ks.pool != nil && ks.pool.Threads() > 1 {
		if units, rows := splitProduct(m, k, n, ks.pool.Threads()); units > 1 {
			args := productArgs{impl: ks.impl, b: b, k: k, n: n, c: c, a: a, m: m, lda: lda, ldc: ldc, ep: ep, rows: rows}
			parallel.For(ks.pool, units, args, productChunk)
			return
		}
	}
	ks.impl.matmul(b, k, n, c, a, m, lda, ldc, ep)
}

// splitProduct returns how many units an m×k by k×n product splits into
// (1: run it whole) and whether units are blocks of rowUnit rows (else
// groups of colUnit columns).
func splitProduct(m, k, n, threads int) (units int, rows bool) {
	work := m * k * n
	switch {
	case m == 1:
		if work < parallelGEMVMin {
			return 1, false
		}
		return (n + colUnit - 1) / colUnit, false
	case work < parallelGEMMMin:
		return 1, false
	case m >= 4*rowUnit*threads:
		return (m + rowUnit - 1) / rowUnit, true
	case n >= 2*colUnit:
		return (n + colUnit - 1) / colUnit, false
	default:
		return (m + rowUnit - 1) / rowUnit, true
	}
}

// productArgs is one split product, copied to each thread's chunks.
type productArgs struct {
	impl        *impl
	b           []float32
	k, n        int
	c, a        unsafe.Pointer
	m, lda, ldc int
	ep          epilogue
	rows        bool
}

// productChunk computes units [lo, hi) of a split product: rows or columns
// of C, each by the set's single-threaded kernel.
func productChunk(x productArgs, lo, hi int) {
	if x.rows {
		i0, i1 := lo*rowUnit, min(hi*rowUnit, x.m)
		x.impl.matmul(x.b, x.k, x.n, unsafe.Add(x.c, 4*i0*x.ldc), unsafe.Add(x.a, 4*i0*x.lda), i1-i0, x.lda, x.ldc, x.ep)
		return
	}
	j0, j1 := lo*colUnit, min(hi*colUnit, x.n)
	ep := x.ep
	if ep.bias != nil {
		ep.bias = unsafe.Add(ep.bias, 4*j0)
	}
	x.impl.matmul(x.b[j0*x.k:], x.k, j1-j0, unsafe.Add(x.c, 4*j0), x.a, x.m, x.lda, x.ldc, ep)
}

// packB is PackBInto with the panels shared out across the pool when B is
// large.
func (ks Kernels) packB(dst, b []float32, k, n, ldb int, transposed bool) {
	checkPackB(dst, b, k, n, ldb, transposed)
	panels := (n + panelWidth - 1) / panelWidth
	if ks.pool != nil && ks.pool.Threads() > 1 && k*n >= parallelPackMin {
		parallel.For(ks.pool, panels, packArgs{dst: dst, b: b, k: k, n: n, ldb: ldb, transposed: transposed}, packChunk)
		return
	}
	packPanels(dst, b, k, n, ldb, transposed, 0, panels)
}

// packArgs is one split packing.
type packArgs struct {
	dst, b     []float32
	k, n, ldb  int
	transposed bool
}

func packChunk(x packArgs, lo, hi int) {
	packPanels(x.dst, x.b, x.k, x.n, x.ldb, x.transposed, lo, hi)
}
