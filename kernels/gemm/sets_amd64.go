//go:build !purego

package gemm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// native lists the amd64 assembly sets, fastest first.
var native = []nativeSet{
	{impl: avx512, ok: func() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW }},
	{impl: avx2, ok: func() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }},
}

var avx512 = &impl{
	name:   "avx512",
	matmul: matmul512,
	peak:   func(n int) int64 { peak512(n); return int64(n) * 24 * 16 * 2 },
}

var avx2 = &impl{
	name:   "avx2",
	matmul: matmul256,
	peak:   func(n int) int64 { peak256(n); return int64(n) * 12 * 8 * 2 },
}

// Cache blocking shared by both sets: a k block of kcBlock rows keeps the B
// panels of one column group in L1/L2 while mcBlock rows of A stream past.
const (
	kcBlock = 256
	mcBlock = 240
)

type kernel512 = func(a *float32, lda int, b *float32, pstride int, k int, c *float32, ldc int, mask uint64, bias *float32, flags int, alpha float32)

var gemm512Tiles = [mr512][4]kernel512{
	{gemm512m1n1, gemm512m1n2, gemm512m1n3, gemm512m1n4},
	{gemm512m2n1, gemm512m2n2, gemm512m2n3, gemm512m2n4},
	{gemm512m3n1, gemm512m3n2, gemm512m3n3, gemm512m3n4},
	{gemm512m4n1, gemm512m4n2, gemm512m4n3, gemm512m4n4},
	{gemm512m5n1, gemm512m5n2, gemm512m5n3, gemm512m5n4},
	{gemm512m6n1, gemm512m6n2, gemm512m6n3, gemm512m6n4},
}

var gemv512Groups = [4]func(a *float32, b *float32, pstride int, k int, c *float32, ng int, mask uint64, bias *float32, flags int, alpha float32){
	gemv512n1, gemv512n2, gemv512n3, gemv512n4,
}

// mr512 is the AVX-512 tile height; a tile is up to four panels (64 columns).
const mr512 = 6

func colMask(cols int) uint64 {
	if cols >= 64 {
		return ^uint64(0)
	}
	return 1<<cols - 1
}

func matmul512(p []float32, k, n int, c, a unsafe.Pointer, m, lda, ldc int, ep epilogue) {
	ps := k * panelWidth
	if m == 1 {
		flags := ep.flags()
		ng := n / 64
		if ng > 0 {
			gemv512n4(at(a, 0), packedAt(p, 0), ps, k, at(c, 0), ng, ^uint64(0), at(ep.bias, 0), flags, ep.alpha)
		}
		if j := ng * 64; j < n {
			gemv512Groups[(n-j+15)/16-1](at(a, 0), packedAt(p, j*k), ps, k, at(c, j), 1, colMask(n-j), at(ep.bias, j), flags, ep.alpha)
		}
		return
	}
	for pc := 0; ; pc += kcBlock {
		kb := min(kcBlock, k-pc)
		flags := 0
		if pc > 0 {
			flags = flagAccumulate
		}
		if pc+kb == k {
			flags |= ep.flags()
		}
		for ic := 0; ic < m; ic += mcBlock {
			iend := min(m, ic+mcBlock)
			for j := 0; j < n; j += 64 {
				cols := min(64, n-j)
				tiles := &gemm512Tiles
				nv := (cols + 15) / 16
				mask := colMask(cols)
				bp := packedAt(p, j*k+pc*panelWidth)
				bias := at(ep.bias, j)
				for i := ic; i < iend; i += mr512 {
					mr := min(mr512, iend-i)
					tiles[mr-1][nv-1](at(a, i*lda+pc), lda, bp, ps, kb, at(c, i*ldc+j), ldc, mask, bias, flags, ep.alpha)
				}
			}
		}
		if pc+kb >= k {
			return
		}
	}
}

// gemm256Tile calls the mr-row AVX2 tile kernel. It is a switch of direct
// calls, not a table of func values, so that the kernels' noescape holds
// and staging tiles stay on the stack.
func gemm256Tile(mr int, a *float32, lda int, b *float32, k int, c *float32, ldc int, bias *float32, flags int, alpha float32) {
	switch mr {
	case 1:
		gemm256m1(a, lda, b, k, c, ldc, bias, flags, alpha)
	case 2:
		gemm256m2(a, lda, b, k, c, ldc, bias, flags, alpha)
	case 3:
		gemm256m3(a, lda, b, k, c, ldc, bias, flags, alpha)
	case 4:
		gemm256m4(a, lda, b, k, c, ldc, bias, flags, alpha)
	case 5:
		gemm256m5(a, lda, b, k, c, ldc, bias, flags, alpha)
	default:
		gemm256m6(a, lda, b, k, c, ldc, bias, flags, alpha)
	}
}

// mr256 is the AVX2 tile height; a tile is one panel (16 columns).
const mr256 = 6

func matmul256(p []float32, k, n int, c, a unsafe.Pointer, m, lda, ldc int, ep epilogue) {
	full := n / panelWidth * panelWidth
	if m == 1 {
		flags := ep.flags()
		if np := n / panelWidth; np > 0 {
			gemv256(at(a, 0), packedAt(p, 0), k, at(c, 0), np, at(ep.bias, 0), flags, ep.alpha)
		}
		if full < n {
			var tile partialTile
			tile.load(c, 1, 0, full, n, ep, flags)
			gemv256(at(a, 0), packedAt(p, full*k), k, &tile.c[0], 1, &tile.bias[0], flags, ep.alpha)
			tile.store(c, 1, 0, full, n)
		}
		return
	}
	for pc := 0; ; pc += kcBlock {
		kb := min(kcBlock, k-pc)
		flags := 0
		if pc > 0 {
			flags = flagAccumulate
		}
		if pc+kb == k {
			flags |= ep.flags()
		}
		for ic := 0; ic < m; ic += mcBlock {
			iend := min(m, ic+mcBlock)
			for j := 0; j < n; j += panelWidth {
				bp := packedAt(p, j*k+pc*panelWidth)
				for i := ic; i < iend; i += mr256 {
					mr := min(mr256, iend-i)
					if j < full {
						gemm256Tile(mr, at(a, i*lda+pc), lda, bp, kb, at(c, i*ldc+j), ldc, at(ep.bias, j), flags, ep.alpha)
						continue
					}
					tile := partialTile{ldc: ldc}
					tile.load(c, mr, i*ldc, j, n, ep, flags)
					gemm256Tile(mr, at(a, i*lda+pc), lda, bp, kb, &tile.c[0], panelWidth, &tile.bias[0], flags, ep.alpha)
					tile.store(c, mr, i*ldc, j, n)
				}
			}
		}
		if pc+kb >= k {
			return
		}
	}
}

// partialTile stages a tile narrower than a panel, so the AVX2 kernels only
// ever load and store full 16-column rows.
type partialTile struct {
	c    [mr256 * panelWidth]float32
	bias [panelWidth]float32
	ldc  int
}

// load copies C's rows (for accumulation) and the bias columns j..n-1 in.
func (t *partialTile) load(c unsafe.Pointer, mr, off, j, n int, ep epilogue, flags int) {
	w := n - j
	if flags&flagAccumulate != 0 {
		for r := 0; r < mr; r++ {
			copy(t.c[r*panelWidth:r*panelWidth+w], unsafe.Slice(at(c, off+r*t.ldc+j), w))
		}
	}
	if ep.bias != nil {
		copy(t.bias[:w], unsafe.Slice(at(ep.bias, j), w))
	}
}

// store copies the valid columns of the tile's rows out to C.
func (t *partialTile) store(c unsafe.Pointer, mr, off, j, n int) {
	w := n - j
	for r := 0; r < mr; r++ {
		copy(unsafe.Slice(at(c, off+r*t.ldc+j), w), t.c[r*panelWidth:r*panelWidth+w])
	}
}
