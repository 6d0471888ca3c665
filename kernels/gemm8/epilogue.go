package gemm8

import "fmt"

// Dequantize turns one row of int32 sums into float32: for j < len(y),
//
//	y[j] = act(float32(acc[j] − zero·sums[j]) · (scale·bs[j]) + bias[j])
//
// with sums the column sums of B (PackedB.ColSums), zero and scale the
// activation's zero point and scale, bs the per-column weight scales, bias
// optional (nil) and act ReLU when relu is set, identity otherwise. y may
// share memory with acc (the int32 row is converted in place). It does not
// allocate.
func (ks Kernels) Dequantize(y []float32, acc, sums []int32, zero int32, scale float32, bs, bias []float32, relu bool) {
	n := len(y)
	if len(acc) < n || len(sums) < n || len(bs) < n || (bias != nil && len(bias) < n) {
		panic(fmt.Sprintf("gemm8: Dequantize of %d columns: acc %d, sums %d, scales %d, bias %d", n, len(acc), len(sums), len(bs), len(bias)))
	}
	if n == 0 {
		return
	}
	if bias != nil {
		bias = bias[:n]
	}
	ks.impl.dequant(y, acc[:n], sums[:n], zero, scale, bs[:n], bias, relu)
}

// Quantize sets dst[i] to x[i] quantized with scale and zero point:
// saturate(⌊x[i]/scale + zero + ½⌋) over [0, 255] for uint8 or, when
// signed, over [−128, 127] (stored as the int8's byte). Rounding is half
// up in the shifted uint8 domain (half away from zero about the zero
// point), and x/scale is computed as x·(1/scale). A zero scale writes the
// zero point. It does not allocate.
func (ks Kernels) Quantize(dst []byte, x []float32, scale float32, zero int32, signed bool) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("gemm8: Quantize of %d values into %d bytes", len(x), len(dst)))
	}
	dst = dst[:len(x)]
	shift, flip := float32(zero), byte(0)
	if signed {
		shift, flip = float32(zero+128), 0x80
	}
	if scale == 0 {
		for i := range dst {
			dst[i] = byte(int32(shift)) ^ flip
		}
		return
	}
	if len(x) == 0 {
		return
	}
	ks.impl.quantize(dst, x, 1/scale, shift, flip)
}

// MinMax returns the smallest and largest element of x: (0, 0) when x is
// empty, (NaN, NaN) when x holds a NaN.
func (ks Kernels) MinMax(x []float32) (lo, hi float32) {
	if len(x) == 0 {
		return 0, 0
	}
	lo, hi = ks.impl.minMax(x)
	if lo != lo || hi != hi {
		return nan32, nan32
	}
	return lo, hi
}
