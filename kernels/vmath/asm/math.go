package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// floatConsts are the float32 constants of the algorithms, the same values
// as package vmath's generic.go (which cites their sources and bounds).
var floatConsts = []struct {
	name string
	v    float64
}{
	{"one", 1}, {"two", 2}, {"half", 0.5}, {"rsqrt2", 1 / math.Sqrt2},
	// exp: clamp, Cody–Waite split of ln 2, polynomial 1 + r + r²·P(r).
	{"exp_lo", -104}, {"exp_hi", 89}, {"log2e", math.Log2E},
	{"ln2_hi", 0.693359375}, {"ln2_lo", math.Ln2 - 0.693359375},
	{"exp_p0", 0.4999999345147267}, {"exp_p1", 0.16666520687563066}, {"exp_p2", 0.04166838740855053},
	{"exp_p3", 0.00836871003530859}, {"exp_p4", 0.00138146110007847},
	// tanh: x + x³·P(x²) below 0.625, 1 − 2/(e^2|x| + 1) above.
	{"tanh_thr", 0.625}, {"tanh_max", 10},
	{"tanh_p0", -0.3333328194278393}, {"tanh_p1", 0.13331442215036776}, {"tanh_p2", -0.05373971627948208},
	{"tanh_p3", 0.02063909065744576}, {"tanh_p4", -0.00570499040994527},
	// erf: x·P(x²) below 1; 1 − t·Q(t)·e^(−x²), t = 1/(1 + x/2), above.
	{"erf_thr", 1}, {"erf_max", 10.2}, {"gelu_lo", -10.2 * math.Sqrt2}, {"gelu_hi", 10.2 * math.Sqrt2},
	{"erf_p0", 1.1283791226572089}, {"erf_p1", -0.37612326506395499}, {"erf_p2", 0.11280181871299687},
	{"erf_p3", -0.026711350968970045}, {"erf_p4", 0.0049175906438158256}, {"erf_p5", -0.00056315635338188006},
	{"erf_q0", 0.2822003432294272}, {"erf_q1", 0.2799002946922249}, {"erf_q2", 0.2653770684066373},
	{"erf_q3", 0.09445102946986295}, {"erf_q4", 0.2833698143431187}, {"erf_q5", -0.2560208591238577},
	{"erf_q6", 0.04994262782510359},
}

// Comparison predicates of VCMPPS.
const (
	cmpLT = 1 // less than, ordered, signalling
)

// load returns a fresh register holding constant name.
func (s isa) load(name string) VecVirtual {
	r := s.vec()
	VMOVUPS(c(name), r)
	return r
}

// poly evaluates Σ names[i]·x^i by Horner's rule.
func (s isa) poly(x VecVirtual, names ...string) VecVirtual {
	p := s.load(names[len(names)-1])
	for i := len(names) - 2; i >= 0; i-- {
		VFMADD213PS(c(names[i]), x, p) // p = x·p + names[i]
	}
	return p
}

// lessThan returns a blend function choosing, per lane, t where a < name
// and f elsewhere (NaN lanes take f).
func (s isa) selectLess(a VecVirtual, name string, t, f VecVirtual) VecVirtual {
	y := s.vec()
	if s.avx512 {
		k := K()
		VCMPPS(U8(cmpLT), c(name), a, k)
		VBLENDMPS(t, f, k, y)
		return y
	}
	m := s.vec()
	VCMPPS(U8(cmpLT), c(name), a, m)
	VBLENDVPS(m, t, f, y)
	return y
}

// clamp returns min(max(x, lo), hi) with NaN propagated: x is the second
// source of VMAXPS/VMINPS, which return it when either operand is NaN.
func (s isa) clamp(x VecVirtual, lo, hi string) VecVirtual {
	l, h, y := s.load(lo), s.load(hi), s.vec()
	VMAXPS(x, l, y)
	VMINPS(y, h, y)
	return y
}

// exp returns e^x: clamp to [−104, 89], n = round(x·log₂e), r = x − n·ln2
// (two-constant Cody–Waite), e^r ≈ 1 + r + r²·P(r), times 2ⁿ.
func (s isa) exp(x VecVirtual) VecVirtual {
	xc := s.clamp(x, "exp_lo", "exp_hi")
	t, n := s.vec(), s.vec()
	VMULPS(c("log2e"), xc, t)
	if s.avx512 {
		VRNDSCALEPS(U8(0), t, n)
	} else {
		VROUNDPS(U8(0), t, n)
	}
	VFNMADD231PS(c("ln2_hi"), n, xc) // xc −= n·ln2_hi (exact product)
	VFNMADD231PS(c("ln2_lo"), n, xc)
	r := xc
	p := s.poly(r, "exp_p0", "exp_p1", "exp_p2", "exp_p3", "exp_p4")
	VFMADD213PS(c("one"), r, p) // 1 + r·P
	VFMADD213PS(c("one"), r, p) // 1 + r + r²·P
	if s.avx512 {
		// VSCALEFPS multiplies by 2^n with correct overflow, subnormal and
		// underflow results.
		VSCALEFPS(n, p, p)
		return p
	}
	// 2ⁿ as two factors 2^(n>>1)·2^(n−n>>1), both normal for n in
	// [−150, 128], so the product rounds once into the subnormal range.
	ni, n1 := s.vec(), s.vec()
	VCVTTPS2DQ(n, ni)
	VPSRAD(U8(1), ni, n1)
	VPSUBD(n1, ni, ni)
	VPADDD(c("bias"), n1, n1)
	VPADDD(c("bias"), ni, ni)
	VPSLLD(U8(23), n1, n1)
	VPSLLD(U8(23), ni, ni)
	VMULPS(n1, p, p)
	VMULPS(ni, p, p)
	return p
}

// div returns num/d. AVX2 divides (VDIVPS); AVX-512 takes VRCP14PS (relative
// error < 2⁻¹⁴) and one Newton–Raphson step r += r·(1 − d·r), which squares
// the error to < 2⁻²⁸, below float32 rounding, at a fraction of the cost of
// a 512-bit VDIVPS. num is "one" or "two" (exact scalings).
func (s isa) div(num string, d VecVirtual) VecVirtual {
	if !s.avx512 {
		n := s.load(num)
		VDIVPS(d, n, n) // n / d
		return n
	}
	r, e := s.vec(), s.load("one")
	VRCP14PS(d, r)
	VFNMADD231PS(r, d, e) // e = 1 − d·r
	VFMADD231PS(e, r, r)  // r = r + r·e
	if num != "one" {
		VMULPS(c(num), r, r)
	}
	return r
}

// sigmoid returns 1/(1 + e^−x) as d = 1/(1 + e^−|x|) for x ≥ 0 and
// e^−|x|·d for x < 0, so that e^−|x| never overflows and the negative side
// keeps its relative accuracy down to the subnormals.
func (s isa) sigmoid(x VecVirtual) VecVirtual {
	t := s.vec()
	VORPS(c("sign"), x, t) // −|x|
	e := s.exp(t)
	d := s.vec()
	VADDPS(c("one"), e, d)
	d = s.div("one", d) // 1/(1 + e)
	VMULPS(d, e, e)
	zero := s.vec()
	VXORPS(zero, zero, zero)
	y := s.vec()
	if s.avx512 {
		k := K()
		VCMPPS(U8(cmpLT), zero, x, k)
		VBLENDMPS(e, d, k, y)
	} else {
		m := s.vec()
		VCMPPS(U8(cmpLT), zero, x, m)
		VBLENDVPS(m, e, d, y)
	}
	return y
}

// tanh returns tanh(x): an odd polynomial below |x| = 0.625 (no
// cancellation near 0), 1 − 2/(e^2|x| + 1) with x's sign above.
func (s isa) tanh(x VecVirtual) VecVirtual {
	a := s.vec()
	VANDPS(c("abs"), x, a)
	z, xz := s.vec(), s.vec()
	VMULPS(x, x, z)
	VMULPS(z, x, xz)
	small := s.poly(z, "tanh_p0", "tanh_p1", "tanh_p2", "tanh_p3", "tanh_p4")
	VFMADD213PS(x, xz, small) // x + x³·P(x²)

	// |x| is clamped to 10 (tanh(10) rounds to 1) so that e stays finite
	// for the reciprocal.
	ten, a2 := s.load("tanh_max"), s.vec()
	VMINPS(a, ten, a2) // NaN stays NaN
	VADDPS(a2, a2, a2)
	e := s.exp(a2)
	VADDPS(c("one"), e, e)
	e = s.div("two", e) // 2/(e+1)
	one := s.load("one")
	VSUBPS(e, one, e) // 1 − 2/(e+1)
	y := s.selectLess(a, "tanh_thr", small, e)
	// x's sign on both branches (the polynomial gives +0 for −0).
	sign := s.vec()
	VANDPS(c("sign"), x, sign)
	VORPS(sign, y, y)
	return y
}

// erfParts returns, for u, |u|, the small-argument erf(u) = u·P(u²) and
// the large-argument erfc(|u|) = t·Q(t)·e^(−u²) with t = 2/(2 + |u|),
// |u| clamped to 10.2 (where e^(−u²) rounds to 0). sq returns u² as an
// unevaluated sum m + lo for the clamped |u|.
func (s isa) erfParts(u VecVirtual, sq func(ac VecVirtual) (m, lo VecVirtual)) (a, small, w VecVirtual) {
	a = s.vec()
	VANDPS(c("abs"), u, a)
	z := s.vec()
	VMULPS(u, u, z)
	small = s.poly(z, "erf_p0", "erf_p1", "erf_p2", "erf_p3", "erf_p4", "erf_p5")
	VMULPS(u, small, small)

	four := s.load("erf_max")
	ac := s.vec()
	VMINPS(a, four, ac) // NaN stays NaN
	t := s.vec()
	VADDPS(c("two"), ac, t)
	t = s.div("two", t)
	q := s.poly(t, "erf_q0", "erf_q1", "erf_q2", "erf_q3", "erf_q4", "erf_q5", "erf_q6")
	VMULPS(t, q, q)
	// e^(−a²) with a² = m + lo, so that the rounding of a² does not become
	// a relative error of a²·2⁻²⁴: e^(−a²) ≈ e^(−m)·(1 − lo).
	m, lo := sq(ac)
	VXORPS(c("sign"), m, m)
	e := s.exp(m)
	VFNMADD231PS(lo, e, e) // e −= e·lo
	VMULPS(e, q, q)
	return a, small, q
}

// square returns a² as m + lo exactly: m = a·a rounded, lo = fma(a, a, −m).
func (s isa) square(a VecVirtual) (m, lo VecVirtual) {
	m, lo = s.vec(), s.vec()
	VMULPS(a, a, m)
	VMOVAPS(m, lo)
	VFMSUB231PS(a, a, lo) // lo = a·a − m
	return m, lo
}

// erf returns erf(x).
func (s isa) erf(x VecVirtual) VecVirtual {
	a, small, w := s.erfParts(x, s.square)
	one := s.load("one")
	VSUBPS(w, one, w) // 1 − erfc
	sign := s.vec()
	VANDPS(c("sign"), x, sign)
	VORPS(sign, w, w)
	return s.selectLess(a, "erf_thr", small, w)
}

// gelu returns x·Φ(x) = ½x·(1 + erf(x/√2)), with 1 + erf(u) taken as
// erfc(|u|) for u ≤ −1 (no cancellation in the negative tail).
func (s isa) gelu(x VecVirtual) VecVirtual {
	u := s.vec()
	VMULPS(c("rsqrt2"), x, u)
	// u² = x²/2 from x itself: the rounding of u would otherwise cost a
	// relative error of 2u²·2⁻²⁴ in e^(−u²). |u| > 10.2 is |x| > 14.4.
	a, small, w := s.erfParts(u, func(VecVirtual) (m, lo VecVirtual) {
		xc := s.clamp(x, "gelu_lo", "gelu_hi")
		m, lo = s.square(xc)
		VMULPS(c("half"), m, m)
		VMULPS(c("half"), lo, lo)
		return m, lo
	})
	VADDPS(c("one"), small, small) // 1 + erf(u), |u| < 1
	two := s.load("two")
	pos := s.vec()
	VSUBPS(w, two, pos) // 2 − erfc(u), u ≥ 1
	// Negative lanes (u < 0 is x < 0) keep erfc(|u|) itself.
	zero := s.vec()
	VXORPS(zero, zero, zero)
	var big VecVirtual
	if s.avx512 {
		k := K()
		VCMPPS(U8(cmpLT), zero, u, k)
		big = s.vec()
		VBLENDMPS(w, pos, k, big)
	} else {
		m := s.vec()
		VCMPPS(U8(cmpLT), zero, u, m)
		big = s.vec()
		VBLENDVPS(m, w, pos, big)
	}
	y := s.selectLess(a, "erf_thr", small, big)
	h := s.vec()
	VMULPS(c("half"), x, h)
	VMULPS(h, y, y)
	return y
}
