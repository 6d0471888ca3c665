package vmath

import "math"

// The algorithms, shared by every kernel set (asm/math.go repeats the
// constants for the assembly).
//
// Exp: the argument is clamped to [−104, 89] (e^−104 rounds to 0 and e^89
// overflows, so the clamp changes no result and keeps n small), then
// reduced in the manner of Cody and Waite (W. J. Cody, W. Waite, "Software
// Manual for the Elementary Functions", Prentice-Hall 1980, ch. 6):
// n = round(x·log₂e), r = x − n·C₁ − n·C₂ with C₁ = 0.693359375 (9
// significant bits, so n·C₁ is exact for |n| < 2¹⁵) and C₂ = ln 2 − C₁,
// giving |r| ≤ ln2/2. On that interval e^r ≈ 1 + r + r²·P(r) with P of
// degree 4, its coefficients fitted by us as a near-minimax polynomial
// (Lawson's iteratively reweighted least squares on 4000 Chebyshev nodes,
// float64, by asm/fit_coeffs.py; relative error of the polynomial 3.1e-9,
// far below float32 rounding). The result is P·2ⁿ, with 2ⁿ applied as two factors
// 2^⌊n/2⌋·2^(n−⌊n/2⌋), each a normal float32, so that results in the
// subnormal range round once, correctly (AVX-512 uses VSCALEFPS, which
// does the same in one instruction).
//
// Tanh: for |x| < 0.625, x + x³·P(x²) with P of degree 4 (fitted the same
// way, relative error 4.4e-9), which avoids the cancellation of the
// exponential form near 0; above, sign(x)·(1 − 2/(e^2|x| + 1)).
//
// Sigmoid: d = 1/(1 + e^−|x|), and e^−|x|·d for x < 0, so the exponential
// never overflows and the negative side keeps its relative accuracy down to
// the subnormals.
//
// Erf: for |x| < 1, x·P(x²) with P of degree 5 (relative error 4.0e-8).
// Above, erf(x) = 1 − erfc(x) with erfc(x) = t·Q(t)·e^(−x²),
// t = 1/(1 + x/2): the form of Abramowitz and Stegun, Handbook of
// Mathematical Functions (1964), 7.1.25–7.1.28 (after C. Hastings,
// Approximations for Digital Computers, 1955), with Q of degree 6 fitted by
// us for relative error 2.7e-7 of erfc on [0.875, 10] (A&S 7.1.26's own
// five coefficients give only 1.5e-7 absolute, and no relative accuracy in
// the tail that GELU needs). x is clamped to 10.2, where e^(−x²) rounds to 0. x² is
// split exactly into m + lo (float64 product of two float32s) so that
// e^(−x²) = e^(−m)·(1 − lo) loses nothing to the rounding of x².
//
// Gelu: ½x·(1 + erf(x/√2)), with 1 + erf(u) taken as erfc(|u|) for u ≤ −1:
// no cancellation, so the negative tail keeps its relative accuracy.

const (
	expLo = -104
	expHi = 89
	ln2Hi = 0.693359375
	ln2Lo = math.Ln2 - 0.693359375

	expP0 = 0.4999999345147267
	expP1 = 0.16666520687563066
	expP2 = 0.04166838740855053
	expP3 = 0.00836871003530859
	expP4 = 0.00138146110007847

	tanhThr = 0.625
	tanhMax = 10 // tanh(10) rounds to 1; keeps e^2|x| finite
	tanhP0  = -0.3333328194278393
	tanhP1  = 0.13331442215036776
	tanhP2  = -0.05373971627948208
	tanhP3  = 0.02063909065744576
	tanhP4  = -0.00570499040994527

	erfThr = 1
	erfMax = 10.2 // e^(−erfMax²) rounds to 0
	geluLo = -erfMax * math.Sqrt2
	geluHi = erfMax * math.Sqrt2
	erfP0  = 1.1283791226572089
	erfP1  = -0.37612326506395499
	erfP2  = 0.11280181871299687
	erfP3  = -0.026711350968970045
	erfP4  = 0.0049175906438158256
	erfP5  = -0.00056315635338188006
	erfQ0  = 0.2822003432294272
	erfQ1  = 0.2799002946922249
	erfQ2  = 0.2653770684066373
	erfQ3  = 0.09445102946986295
	erfQ4  = 0.2833698143431187
	erfQ5  = -0.2560208591238577
	erfQ6  = 0.04994262782510359

	// roundMagic is 1.5·2²³: (t + roundMagic) − roundMagic rounds t to the
	// nearest integer (ties to even) for |t| < 2²².
	roundMagic = 12582912
)

// exp32 is e^x in float32 (see above).
func exp32(x float32) float32 {
	// Comparisons rather than min/max (which order ±0 and NaN at a cost):
	// NaN fails both and goes through.
	if x < expLo {
		x = expLo
	}
	if x > expHi {
		x = expHi
	}
	n := (x*math.Log2E + roundMagic) - roundMagic
	r := x - n*ln2Hi
	r -= n * ln2Lo
	p := (((expP4*r+expP3)*r+expP2)*r+expP1)*r + expP0
	p = (p*r+1)*r + 1
	ni := int32(n)
	n1 := ni >> 1
	return p * math.Float32frombits(uint32(n1+127)<<23) * math.Float32frombits(uint32(ni-n1+127)<<23)
}

func sigmoid32(x float32) float32 {
	e := exp32(-abs32(x))
	d := 1 / (1 + e)
	if x < 0 {
		return e * d
	}
	return d
}

func tanh32(x float32) float32 {
	a := abs32(x)
	if a < tanhThr {
		z := x * x
		p := (((tanhP4*z+tanhP3)*z+tanhP2)*z+tanhP1)*z + tanhP0
		y := x + x*z*p
		return math.Float32frombits(math.Float32bits(y) | math.Float32bits(x)&(1<<31)) // −0 stays −0
	}
	if a > tanhMax {
		a = tanhMax
	}
	y := 1 - 2/(exp32(a+a)+1)
	return math.Float32frombits(math.Float32bits(y) | math.Float32bits(x)&(1<<31))
}

// erfSmall is erf(u) for |u| < 1.
func erfSmall(u float32) float32 {
	z := u * u
	return u * (((((erfP5*z+erfP4)*z+erfP3)*z+erfP2)*z+erfP1)*z + erfP0)
}

// erfcLarge is erfc(a) for a ≥ 1 (a is clamped to erfMax), given a² as
// m + lo (see square).
func erfcLarge(a, m, lo float32) float32 {
	if a > erfMax {
		a = erfMax
	}
	t := 2 / (2 + a)
	q := t * ((((((erfQ6*t+erfQ5)*t+erfQ4)*t+erfQ3)*t+erfQ2)*t+erfQ1)*t + erfQ0)
	e := exp32(-m)
	return q * (e - e*lo)
}

// square returns a² as m + lo: m = a·a rounded, lo its rounding error
// (exact: a·a has at most 48 bits, so the float64 product is exact).
func square(a float32) (m, lo float32) {
	m = a * a
	return m, float32(float64(a)*float64(a) - float64(m))
}

func erf32(x float32) float32 {
	a := abs32(x)
	if a < erfThr {
		return erfSmall(x)
	}
	ac := a
	if ac > erfMax {
		ac = erfMax
	}
	m, lo := square(ac)
	y := 1 - erfcLarge(ac, m, lo)
	return math.Float32frombits(math.Float32bits(y) | math.Float32bits(x)&(1<<31))
}

// gelu32 takes u² = x²/2 from x itself: the rounding of u = x/√2 would
// otherwise cost a relative error of 2u²·2⁻²⁴ in e^(−u²).
func gelu32(x float32) float32 {
	u := x * (1 / math.Sqrt2)
	a := abs32(u)
	var y float32
	if a < erfThr {
		y = 1 + erfSmall(u)
	} else {
		xc := x
		if xc < geluLo {
			xc = geluLo
		} else if xc > geluHi {
			xc = geluHi
		}
		m, lo := square(xc)
		w := erfcLarge(a, m*0.5, lo*0.5)
		if u < 0 {
			y = w
		} else {
			y = 2 - w // also NaN
		}
	}
	return x * 0.5 * y
}

func abs32(x float32) float32 {
	return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
}

func expGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = exp32(x)
	}
}

func sigmoidGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = sigmoid32(x)
	}
}

func tanhGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = tanh32(x)
	}
}

func erfGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = erf32(x)
	}
}

func geluGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = gelu32(x)
	}
}

// expSumGo sums in four lanes, like the vector sets, to keep the
// accumulation error small and the loop unblocked by one add chain.
func expSumGo(dst, src []float32, shift float32) float32 {
	src = src[:len(dst)]
	var s [4]float32
	for i, x := range src {
		e := exp32(x - shift)
		dst[i] = e
		s[i&3] += e
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}
