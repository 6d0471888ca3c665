package secagg

import "math/bits"

// fieldP is the Mersenne prime 2^61 − 1, the modulus of the Shamir field.
// Its elements fit a uint64 and a product reduces with shifts, so sharing a
// secret among a thousand clients costs a few million word operations.
const fieldP = 1<<61 - 1

// elem is an element of GF(2^61 − 1), always kept reduced (< fieldP).
type elem = uint64

func fadd(a, b elem) elem {
	s := a + b
	if s >= fieldP {
		s -= fieldP
	}
	return s
}

func fsub(a, b elem) elem {
	if a >= b {
		return a - b
	}
	return a + fieldP - b
}

// fmul multiplies modulo 2^61 − 1: with a·b = hi·2^64 + lo and 2^64 ≡ 8,
// a·b ≡ 8·hi + (lo mod 2^61) + ⌊lo/2^61⌋.
func fmul(a, b elem) elem {
	hi, lo := bits.Mul64(a, b)
	r := (lo & fieldP) + (lo >> 61) + (hi << 3)
	r = (r & fieldP) + (r >> 61)
	if r >= fieldP {
		r -= fieldP
	}
	return r
}

// fpow returns a^e.
func fpow(a elem, e uint64) elem {
	r := elem(1)
	for e > 0 {
		if e&1 == 1 {
			r = fmul(r, a)
		}
		a = fmul(a, a)
		e >>= 1
	}
	return r
}

// finv returns a^-1 for a ≠ 0 (Fermat: a^(p−2)).
func finv(a elem) elem { return fpow(a, fieldP-2) }
