package gemm

import "unsafe"

// generic is the pure-Go kernel set: the fallback on every architecture and
// the only set under the purego build tag.
var generic = &impl{name: "purego", matmul: matmulGo, peak: peakGo}

// genericRows is the pure-Go tile height; a tile is one 16-column panel.
const genericRows = 4

func matmulGo(packed []float32, k, n int, c, a unsafe.Pointer, m, lda, ldc int, ep epilogue) {
	cs := unsafe.Slice((*float32)(c), (m-1)*ldc+n)
	var as []float32
	if a != nil {
		as = unsafe.Slice((*float32)(a), (m-1)*lda+k)
	}
	var bias []float32
	if ep.bias != nil {
		bias = unsafe.Slice((*float32)(ep.bias), n)
	}
	for j0 := 0; j0 < n; j0 += panelWidth {
		panel := packed[j0*k : (j0+panelWidth)*k]
		w := min(panelWidth, n-j0)
		for i := 0; i < m; i += genericRows {
			mr := min(genericRows, m-i)
			var acc [genericRows][panelWidth]float32
			for r := 0; r < mr; r++ {
				if k > 0 {
					tileRowGo(&acc[r], as[(i+r)*lda:(i+r)*lda+k], panel)
				}
				row := cs[(i+r)*ldc+j0 : (i+r)*ldc+j0+w]
				for j := range row {
					v := acc[r][j]
					if bias != nil {
						v += bias[j0+j]
					}
					switch {
					case v >= 0:
					case ep.act == Relu:
						v = 0
					case ep.act == LeakyRelu:
						v *= ep.alpha
					}
					row[j] = v
				}
			}
		}
	}
}

// tileRowGo accumulates a row of A times one packed panel into acc.
func tileRowGo(acc *[panelWidth]float32, a, panel []float32) {
	for kk, av := range a {
		b := (*[panelWidth]float32)(panel[kk*panelWidth : (kk+1)*panelWidth])
		acc[0] += av * b[0]
		acc[1] += av * b[1]
		acc[2] += av * b[2]
		acc[3] += av * b[3]
		acc[4] += av * b[4]
		acc[5] += av * b[5]
		acc[6] += av * b[6]
		acc[7] += av * b[7]
		acc[8] += av * b[8]
		acc[9] += av * b[9]
		acc[10] += av * b[10]
		acc[11] += av * b[11]
		acc[12] += av * b[12]
		acc[13] += av * b[13]
		acc[14] += av * b[14]
		acc[15] += av * b[15]
	}
}

// peakSink keeps peakGo's results alive.
var peakSink float32

// peakGo is the pure-Go FMA loop: eight independent multiply-adds per
// iteration.
func peakGo(iters int) int64 {
	x := [8]float32{1, 2, 3, 4, 5, 6, 7, 8}
	const y, z = 0.5, 0.25
	for range iters {
		x[0] = x[0]*y + z
		x[1] = x[1]*y + z
		x[2] = x[2]*y + z
		x[3] = x[3]*y + z
		x[4] = x[4]*y + z
		x[5] = x[5]*y + z
		x[6] = x[6]*y + z
		x[7] = x[7]*y + z
	}
	peakSink = x[0] + x[1] + x[2] + x[3] + x[4] + x[5] + x[6] + x[7]
	return int64(iters) * 16
}

// epilogueRow applies bias (nil for none) and ep's activation to one row of
// C in place; kernel sets whose assembly has no epilogue call it.
func epilogueRow(row, bias []float32, ep epilogue) {
	for j, v := range row {
		if bias != nil {
			v += bias[j]
		}
		switch {
		case v >= 0:
		case ep.act == Relu:
			v = 0
		case ep.act == LeakyRelu:
			v *= ep.alpha
		}
		row[j] = v
	}
}
