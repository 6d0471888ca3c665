//go:build !purego

package gemm

import "unsafe"

// native is the NEON set; Advanced SIMD is mandatory on arm64.
var native = []nativeSet{{impl: neon, ok: func() bool { return true }}}

var neon = &impl{
	name:   "neon",
	matmul: matmulNEON,
	peak:   func(n int) int64 { peakNEON(n); return int64(n) * 24 * 4 * 2 },
}

// Cache blocking as on amd64 (see sets_amd64.go).
const (
	kcBlock = 256
	mcBlock = 240
)

// mrNEON is the NEON tile height; a tile is one panel (16 columns).
const mrNEON = 6

func matmulNEON(p []float32, k, n int, c, a unsafe.Pointer, m, lda, ldc int, ep epilogue) {
	var bias []float32
	if ep.bias != nil {
		bias = unsafe.Slice((*float32)(ep.bias), n)
	}
	post := ep.bias != nil || ep.act != None
	full := n / panelWidth * panelWidth
	if m == 1 {
		if np := n / panelWidth; np > 0 {
			neon1x16(at(a, 0), packedAt(p, 0), k, at(c, 0), np, 0)
		}
		if full < n {
			var t [panelWidth]float32
			neon1x16(at(a, 0), packedAt(p, full*k), k, &t[0], 1, 0)
			copy(unsafe.Slice(at(c, full), n-full), t[:])
		}
		if post {
			epilogueRow(unsafe.Slice(at(c, 0), n), bias, ep)
		}
		return
	}
	for pc := 0; ; pc += kcBlock {
		kb := min(kcBlock, k-pc)
		acc := 0
		if pc > 0 {
			acc = 1
		}
		for ic := 0; ic < m; ic += mcBlock {
			iend := min(m, ic+mcBlock)
			for j := 0; j < n; j += panelWidth {
				bp := packedAt(p, j*k+pc*panelWidth)
				w := min(panelWidth, n-j)
				for i := ic; i < iend; i += mrNEON {
					mr := min(mrNEON, iend-i)
					if mr == mrNEON && w == panelWidth {
						neon6x16(at(a, i*lda+pc), lda, bp, kb, at(c, i*ldc+j), ldc, acc)
						continue
					}
					// Tails run row by row through a full-width stack row.
					for r := i; r < i+mr; r++ {
						var t [panelWidth]float32
						row := unsafe.Slice(at(c, r*ldc+j), w)
						if acc != 0 {
							copy(t[:], row)
						}
						neon1x16(at(a, r*lda+pc), bp, kb, &t[0], 1, acc)
						copy(row, t[:])
					}
				}
			}
		}
		if pc+kb >= k {
			break
		}
	}
	if post {
		for i := 0; i < m; i++ {
			epilogueRow(unsafe.Slice(at(c, i*ldc), n), bias, ep)
		}
	}
}
