package accountant

import (
	"math"
	"math/bits"
)

// fft computes the discrete Fourier transform of x in place (inverse when
// inverse is set, including the 1/n scale). len(x) must be a power of two.
// Iterative radix-2 Cooley–Tukey with a bit-reversal permutation.
func fft(x []complex128, inverse bool) {
	n := len(x)
	if n <= 1 {
		return
	}
	shift := 64 - uint(bits.TrailingZeros(uint(n)))
	for i := 0; i < n; i++ {
		j := int(bits.Reverse64(uint64(i)) >> shift)
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	sign := -1.0
	if inverse {
		sign = 1
	}
	// Twiddles for the largest stage; smaller stages stride through them.
	half := n / 2
	tw := make([]complex128, half)
	for k := range tw {
		s, c := math.Sincos(sign * 2 * math.Pi * float64(k) / float64(n))
		tw[k] = complex(c, s)
	}
	for size := 2; size <= n; size <<= 1 {
		h := size / 2
		stride := n / size
		for start := 0; start < n; start += size {
			for k := 0; k < h; k++ {
				w := tw[k*stride]
				a, b := x[start+k], x[start+k+h]*w
				x[start+k], x[start+k+h] = a+b, a-b
			}
		}
	}
	if inverse {
		inv := complex(1/float64(n), 0)
		for i := range x {
			x[i] *= inv
		}
	}
}

// powComplex returns z^n for integer n ≥ 0 by repeated squaring, which is
// more accurate than exp(n·log z) for |z| close to 1.
func powComplex(z complex128, n int) complex128 {
	r := complex(1, 0)
	for n > 0 {
		if n&1 == 1 {
			r *= z
		}
		z *= z
		n >>= 1
	}
	return r
}
