//go:build !purego

package gemm8

import "golang.org/x/sys/cpu"

// native lists the arm64 sets, fastest first: SDOT where the CPU has the
// dot-product extension (ARMv8.2+ phones), plain NEON (Advanced SIMD is
// mandatory on arm64) for the others.
var native = []nativeSet{
	{impl: sdot, ok: func() bool { return cpu.ARM64.HasASIMDDP }},
	{impl: neon, ok: func() bool { return true }},
}

// The vector passes run in Go on arm64: Go's assembler has no vector
// float conversion or arithmetic, and they are a few percent of a layer.
var sdot = &impl{
	name:     "sdot",
	matmul:   matmulSDOT,
	dequant:  dequantGo,
	quantize: quantizeGo,
	minMax:   minMaxGo,
}

var neon = &impl{
	name:     "neon",
	matmul:   matmulNEON,
	dequant:  dequantGo,
	quantize: quantizeGo,
	minMax:   minMaxGo,
}

// Tile heights: SDOT keeps 4 rows × 16 columns in 16 accumulators (and has
// a 2-row tile for what is left), the widening NEON kernel needs two
// accumulators per 4 columns, so 2 rows.
const (
	mrSDOT = 4
	mrNEON = 2
)

func matmulSDOT(panels []byte, sums []int32, k, n int, c []int32, a []uint8, m, lda, ldc int) {
	matmulARM(panels, sums, k, n, c, a, m, lda, ldc, true)
}

func matmulNEON(panels []byte, sums []int32, k, n int, c []int32, a []uint8, m, lda, ldc int) {
	matmulARM(panels, sums, k, n, c, a, m, lda, ldc, false)
}

// matmulARM runs tiles of the largest height that fits (4, 2 for SDOT; 2
// for NEON) × one panel and, for a single row (m = 1 or the last of an odd
// m), the GEMV kernel over all full panels in one call. A
// partial last panel is computed into a stack tile and copied out, and a k
// that is not a multiple of 4 is finished by a second call over one group
// whose A bytes come from a zero-padded stack copy.
func matmulARM(panels []byte, sums []int32, k, n int, c []int32, a []uint8, m, lda, ldc int, dot bool) {
	np, kg := dims(k, n)
	ps := kg * rowBytes
	kf := k / groupRows
	tail := kf < kg
	full := n / panelWidth
	mrMax := mrNEON
	if dot {
		mrMax = mrSDOT
	}
	for i := 0; i < m; {
		mr := mrMax
		for mr > m-i {
			mr /= 2
		}
		var t [mrSDOT * groupRows]uint8
		if tail {
			aTail(t[:], a, i, mr, lda, kf, k)
		}
		if mr == 1 {
			if full > 0 {
				gemvARM(dot, &a[i*lda], &panels[0], ps, kf, &c[i*ldc], &sums[0], full, 0)
				if tail {
					gemvARM(dot, &t[0], &panels[kf*rowBytes], ps, 1, &c[i*ldc], &sums[0], full, 1)
				}
			}
			if full < np {
				var row [panelWidth]int32
				b := full * ps
				gemvARM(dot, &a[i*lda], &panels[b], ps, kf, &row[0], &sums[full*panelWidth], 1, 0)
				if tail {
					gemvARM(dot, &t[0], &panels[b+kf*rowBytes], ps, 1, &row[0], &sums[0], 1, 1)
				}
				off := i*ldc + full*panelWidth
				copy(c[off:off+n-full*panelWidth], row[:])
			}
			i++
			continue
		}
		for p := 0; p < full; p++ {
			b := p * ps
			cp := &c[i*ldc+p*panelWidth]
			tileARM(dot, mr, &a[i*lda], lda, &panels[b], kf, cp, ldc, &sums[p*panelWidth], 0)
			if tail {
				tileARM(dot, mr, &t[0], groupRows, &panels[b+kf*rowBytes], 1, cp, ldc, &sums[0], 1)
			}
		}
		if full < np {
			var tile [mrSDOT * panelWidth]int32
			b := full * ps
			tileARM(dot, mr, &a[i*lda], lda, &panels[b], kf, &tile[0], panelWidth, &sums[full*panelWidth], 0)
			if tail {
				tileARM(dot, mr, &t[0], groupRows, &panels[b+kf*rowBytes], 1, &tile[0], panelWidth, &sums[0], 1)
			}
			w := n - full*panelWidth
			for r := 0; r < mr; r++ {
				off := (i+r)*ldc + full*panelWidth
				copy(c[off:off+w], tile[r*panelWidth:r*panelWidth+w])
			}
		}
		i += mr
	}
}

// gemvARM and tileARM call the set's kernel directly (not through func
// values), which keeps the kernels' noescape: the stack tails stay on the
// stack.
func gemvARM(dot bool, a *uint8, b *byte, ps, kg int, c *int32, sums *int32, np, acc int) {
	if dot {
		sdotGemv(a, b, ps, kg, c, sums, np, acc)
	} else {
		neonGemv(a, b, ps, kg, c, sums, np, acc)
	}
}

func tileARM(dot bool, mr int, a *uint8, lda int, b *byte, kg int, c *int32, ldc int, sums *int32, acc int) {
	switch {
	case !dot:
		neonM2(a, lda, b, kg, c, ldc, sums, acc)
	case mr == 4:
		sdotM4(a, lda, b, kg, c, ldc, sums, acc)
	default:
		sdotM2(a, lda, b, kg, c, ldc, sums, acc)
	}
}
