//go:build !purego

package gemm8

import "golang.org/x/sys/cpu"

// native lists the amd64 assembly sets, fastest first.
var native = []nativeSet{
	{impl: vnni, ok: func() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI }},
	{impl: avx2, ok: func() bool { return cpu.X86.HasAVX2 }},
}

var vnni = &impl{
	name:     "avx512vnni",
	matmul:   matmulVNNI,
	dequant:  dequantVNNI,
	quantize: quantizeVNNI,
	minMax:   minMaxVNNI,
}

var avx2 = &impl{
	name:     "avx2",
	matmul:   matmulAVX2,
	dequant:  dequantAVX2,
	quantize: quantizeAVX2,
	minMax:   minMaxAVX2,
}

// mrVNNI is the AVX-512 tile height; a tile is up to four panels (64
// columns).
const mrVNNI = 6

// colMask has one bit per valid column of a 64-column group.
func colMask(cols int) uint64 {
	if cols >= 64 {
		return ^uint64(0)
	}
	return 1<<cols - 1
}

// tailMask has one bit per element of the last partial 16-lane vector.
func tailMask(n int) uint64 { return 1<<(n%16) - 1 }

func matmulVNNI(panels []byte, _ []int32, k, n int, c []int32, a []uint8, m, lda, ldc int) {
	_, kg := dims(k, n)
	ps := kg * rowBytes
	kf := k / groupRows
	tail := kf < kg
	if m == 1 {
		var t [groupRows]uint8
		if tail {
			aTail(t[:], a, 0, 1, lda, kf, k)
		}
		if ng := n / 64; ng > 0 {
			gemvVNNI(4, &a[0], &panels[0], ps, kf, &c[0], ng, ^uint64(0), 0)
			if tail {
				gemvVNNI(4, &t[0], &panels[kf*rowBytes], ps, 1, &c[0], ng, ^uint64(0), 1)
			}
		}
		if j := n / 64 * 64; j < n {
			nv := (n - j + 15) / 16
			gemvVNNI(nv, &a[0], &panels[j/panelWidth*ps], ps, kf, &c[j], 1, colMask(n-j), 0)
			if tail {
				gemvVNNI(nv, &t[0], &panels[j/panelWidth*ps+kf*rowBytes], ps, 1, &c[j], 1, colMask(n-j), 1)
			}
		}
		return
	}
	for j := 0; j < n; j += 64 {
		cols := min(64, n-j)
		nv := (cols + 15) / 16
		mask := colMask(cols)
		bp := j / panelWidth * ps
		for i := 0; i < m; i += mrVNNI {
			mr := min(mrVNNI, m-i)
			tileVNNI(mr, nv, &a[i*lda], lda, &panels[bp], ps, kf, &c[i*ldc+j], ldc, mask, 0)
			if tail {
				var t [mrVNNI * groupRows]uint8
				aTail(t[:], a, i, mr, lda, kf, k)
				tileVNNI(mr, nv, &t[0], groupRows, &panels[bp+kf*rowBytes], ps, 1, &c[i*ldc+j], ldc, mask, 1)
			}
		}
	}
}

// gemvVNNI calls the nv-panel GEMV kernel. Direct calls (not a table of
// func values) keep the kernels' noescape, so A tails stay on the stack.
func gemvVNNI(nv int, a *uint8, b *byte, ps, kg int, c *int32, ng int, mask uint64, acc int) {
	switch nv {
	case 1:
		vnniGemvN1(a, b, ps, kg, c, ng, mask, acc)
	case 2:
		vnniGemvN2(a, b, ps, kg, c, ng, mask, acc)
	case 3:
		vnniGemvN3(a, b, ps, kg, c, ng, mask, acc)
	default:
		vnniGemvN4(a, b, ps, kg, c, ng, mask, acc)
	}
}

// tileVNNI calls the mr×nv tile kernel (direct calls, as gemvVNNI).
func tileVNNI(mr, nv int, a *uint8, lda int, b *byte, ps, kg int, c *int32, ldc int, mask uint64, acc int) {
	switch mr*8 + nv {
	case 1*8 + 1:
		vnniM1N1(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 1*8 + 2:
		vnniM1N2(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 1*8 + 3:
		vnniM1N3(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 1*8 + 4:
		vnniM1N4(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 2*8 + 1:
		vnniM2N1(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 2*8 + 2:
		vnniM2N2(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 2*8 + 3:
		vnniM2N3(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 2*8 + 4:
		vnniM2N4(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 3*8 + 1:
		vnniM3N1(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 3*8 + 2:
		vnniM3N2(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 3*8 + 3:
		vnniM3N3(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 3*8 + 4:
		vnniM3N4(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 4*8 + 1:
		vnniM4N1(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 4*8 + 2:
		vnniM4N2(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 4*8 + 3:
		vnniM4N3(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 4*8 + 4:
		vnniM4N4(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 5*8 + 1:
		vnniM5N1(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 5*8 + 2:
		vnniM5N2(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 5*8 + 3:
		vnniM5N3(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 5*8 + 4:
		vnniM5N4(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 6*8 + 1:
		vnniM6N1(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 6*8 + 2:
		vnniM6N2(a, lda, b, ps, kg, c, ldc, mask, acc)
	case 6*8 + 3:
		vnniM6N3(a, lda, b, ps, kg, c, ldc, mask, acc)
	default:
		vnniM6N4(a, lda, b, ps, kg, c, ldc, mask, acc)
	}
}

func dequantVNNI(y []float32, acc, sums []int32, zero int32, scale float32, bs, bias []float32, relu bool) {
	var bp *float32
	if bias != nil {
		bp = &bias[0]
	}
	r := 0
	if relu {
		r = 1
	}
	n := len(y)
	dequant512(&y[0], &acc[0], &sums[0], &bs[0], bp, n/16, tailMask(n), zero, scale, r)
}

func quantizeVNNI(q []byte, x []float32, inv, shift float32, flip byte) {
	n := len(x)
	quantize512(&q[0], &x[0], n/16, tailMask(n), inv, shift, int(flip))
}

func minMaxVNNI(x []float32) (lo, hi float32) {
	n := len(x)
	lo, hi, nan := minMax512(&x[0], n/16, tailMask(n))
	if nan != 0 {
		return nan32, nan32
	}
	return lo, hi
}

// AVX2 tiles are mr ≤ 2 rows × np ≤ 2 panels, always 16·np columns wide.
const mrAVX2 = 2

func matmulAVX2(panels []byte, _ []int32, k, n int, c []int32, a []uint8, m, lda, ldc int) {
	np, kg := dims(k, n)
	ps := kg * rowBytes
	kf := k / groupRows
	tail := kf < kg
	full := n / panelWidth
	for i := 0; i < m; {
		mr := min(mrAVX2, m-i)
		var t [mrAVX2 * groupRows]uint8
		if tail {
			aTail(t[:], a, i, mr, lda, kf, k)
		}
		run := func(np, p int, c *int32, ldc int) {
			b := panels[p*ps:]
			tileAVX2(mr, np, &a[i*lda], lda, &b[0], ps, kf, c, ldc, 0)
			if tail {
				tileAVX2(mr, np, &t[0], groupRows, &b[kf*rowBytes], ps, 1, c, ldc, 1)
			}
		}
		p := 0
		if mr == 1 {
			for ; p+2 <= full; p += 2 {
				run(2, p, &c[i*ldc+p*panelWidth], ldc)
			}
		}
		for ; p < full; p++ {
			run(1, p, &c[i*ldc+p*panelWidth], ldc)
		}
		if full < np {
			// The last panel is partial: stage it.
			var tile [mrAVX2 * panelWidth]int32
			run(1, full, &tile[0], panelWidth)
			w := n - full*panelWidth
			for r := 0; r < mr; r++ {
				off := (i+r)*ldc + full*panelWidth
				copy(c[off:off+w], tile[r*panelWidth:r*panelWidth+w])
			}
		}
		i += mr
	}
}

// tileAVX2 calls the mr×np AVX2 tile kernel (direct calls).
func tileAVX2(mr, np int, a *uint8, lda int, b *byte, ps, kg int, c *int32, ldc int, acc int) {
	switch {
	case mr == 2:
		avx2M2P1(a, lda, b, ps, kg, c, ldc, acc)
	case np == 2:
		avx2M1P2(a, lda, b, ps, kg, c, ldc, acc)
	default:
		avx2M1P1(a, lda, b, ps, kg, c, ldc, acc)
	}
}

// The AVX2 passes run whole 8-lane vectors in assembly and the last n%8
// elements in Go.

func dequantAVX2(y []float32, acc, sums []int32, zero int32, scale float32, bs, bias []float32, relu bool) {
	n := len(y)
	v := n / 8 * 8
	if v > 0 {
		var bp *float32
		if bias != nil {
			bp = &bias[0]
		}
		r := 0
		if relu {
			r = 1
		}
		dequant256(&y[0], &acc[0], &sums[0], &bs[0], bp, n/8, zero, scale, r)
	}
	if v < n {
		if bias != nil {
			bias = bias[v:]
		}
		dequantGo(y[v:], acc[v:], sums[v:], zero, scale, bs[v:], bias, relu)
	}
}

func quantizeAVX2(q []byte, x []float32, inv, shift float32, flip byte) {
	n := len(x)
	v := n / 8 * 8
	if v > 0 {
		quantize256(&q[0], &x[0], n/8, inv, shift, int(flip))
	}
	if v < n {
		quantizeGo(q[v:], x[v:], inv, shift, flip)
	}
}

func minMaxAVX2(x []float32) (lo, hi float32) {
	n := len(x)
	v := n / 8 * 8
	if v == 0 {
		return minMaxGo(x)
	}
	lo, hi, nan := minMax256(&x[0], n/8)
	if nan != 0 {
		return nan32, nan32
	}
	if v < n {
		tlo, thi := minMaxGo(x[v:])
		if tlo != tlo {
			return nan32, nan32
		}
		lo, hi = min(lo, tlo), max(hi, thi)
	}
	return lo, hi
}
