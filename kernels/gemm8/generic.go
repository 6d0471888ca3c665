package gemm8

import "math"

// generic is the pure-Go kernel set: the fallback under the purego tag and
// on architectures without assembly.
var generic = &impl{
	name:     "purego",
	matmul:   matmulGo,
	dequant:  dequantGo,
	quantize: quantizeGo,
	minMax:   minMaxGo,
}

// matmulGo walks each row of A over each packed panel; groups of four zero
// activations (ReLU outputs with a zero point of 0) are skipped.
func matmulGo(panels []byte, _ []int32, k, n int, c []int32, a []uint8, m, lda, ldc int) {
	np, kg := dims(k, n)
	kf := k / groupRows
	for i := 0; i < m; i++ {
		ar := a[i*lda : i*lda+k]
		var tail [groupRows]uint8
		copy(tail[:], ar[kf*groupRows:])
		for p := 0; p < np; p++ {
			panel := panels[p*kg*rowBytes : (p+1)*kg*rowBytes]
			var acc [panelWidth]int32
			for g := 0; g < kf; g++ {
				dotGroup(&acc, ar[g*groupRows:g*groupRows+groupRows], panel[g*rowBytes:(g+1)*rowBytes])
			}
			if kf < kg {
				dotGroup(&acc, tail[:], panel[kf*rowBytes:(kf+1)*rowBytes])
			}
			j0 := p * panelWidth
			copy(c[i*ldc+j0:i*ldc+min(n, j0+panelWidth)], acc[:])
		}
	}
}

// dotGroup adds a[0:4]·row to the 16 accumulators, row being one packed
// group: four bytes (k values) per column.
func dotGroup(acc *[panelWidth]int32, a []uint8, row []byte) {
	a0, a1, a2, a3 := int32(a[0]), int32(a[1]), int32(a[2]), int32(a[3])
	if a0|a1|a2|a3 == 0 {
		return
	}
	row = row[:rowBytes]
	for j := range acc {
		b := row[4*j : 4*j+4]
		acc[j] += a0*int32(int8(b[0])) + a1*int32(int8(b[1])) + a2*int32(int8(b[2])) + a3*int32(int8(b[3]))
	}
}

// The pure-Go passes compare instead of calling the min and max builtins,
// whose NaN and signed-zero rules cost branches per element; results differ
// from the builtins only in the sign of a zero.

func dequantGo(y []float32, acc, sums []int32, zero int32, scale float32, bs, bias []float32, relu bool) {
	acc, sums, bs = acc[:len(y)], sums[:len(y)], bs[:len(y)]
	if bias != nil {
		bias = bias[:len(y)]
	}
	for j, v := range acc {
		r := float32(v-zero*sums[j]) * (scale * bs[j])
		if bias != nil {
			r += bias[j]
		}
		if relu && r < 0 {
			r = 0
		}
		y[j] = r
	}
}

func quantizeGo(q []byte, x []float32, inv, shift float32, flip byte) {
	q = q[:len(x)]
	for i, v := range x {
		f := v*inv + shift + 0.5
		if f < 0 {
			f = 0
		}
		if f > 255 {
			f = 255
		}
		q[i] = byte(int32(f)) ^ flip
	}
}

// minMaxGo returns NaN for both when x holds a NaN.
func minMaxGo(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
		if v != v {
			return nan32, nan32
		}
	}
	return lo, hi
}

// nan32 is a float32 NaN.
var nan32 = float32(math.NaN())
