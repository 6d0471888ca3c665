package experiment

import (
	"math"
)

// The distribution functions the tests need, written for this package:
// the regularized incomplete beta function by its continued fraction and
// the regularized incomplete gamma functions by series and continued
// fraction, both evaluated with the modified Lentz method, as in W. H.
// Press et al., Numerical Recipes, 3rd ed. (2007), §6.2 (gammp, gser, gcf)
// and §6.4 (betai, betacf). They are checked against SciPy 1.10 in
// dist_test.go (testdata/scipy_reference.json).

const (
	cfEps   = 1e-15   // relative convergence threshold of the fractions
	cfTiny  = 1e-300  // Lentz's guard against a zero denominator
	cfIters = 1000000 // enough for a, b up to ~10¹¹ (O(√max(a,b)) terms)
)

// RegIncBeta is the regularized incomplete beta function I_x(a, b) for
// a, b > 0 and 0 ≤ x ≤ 1.
func RegIncBeta(a, b, x float64) float64 {
	return incBeta(a, b, x, 1-x)
}

// incBeta is I_x(a, b) given both x and y = 1 − x, so that callers who
// know y to full precision (a t tail: y = t²/(ν+t²)) do not lose it.
func incBeta(a, b, x, y float64) float64 {
	switch {
	case math.IsNaN(x) || math.IsNaN(a) || math.IsNaN(b) || a <= 0 || b <= 0 || x < 0 || y < 0:
		return math.NaN()
	case x == 0:
		return 0
	case y == 0:
		return 1
	}
	var lx, ly float64
	if x < 0.5 {
		lx, ly = math.Log(x), math.Log1p(-x)
	} else {
		lx, ly = math.Log1p(-y), math.Log(y)
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(a*lx + b*ly - (la + lb - lab))
	// The fraction converges fast for x < (a+1)/(a+b+2); use the symmetry
	// I_x(a, b) = 1 − I_{1−x}(b, a) otherwise.
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, y)/b
}

// betaCF evaluates the continued fraction for I_x(a, b) (NR eq. 6.4.5) by
// the modified Lentz method.
func betaCF(a, b, x float64) float64 {
	qab, qap, qam := a+b, a+1, a-1
	c := 1.0
	d := 1 - qab*x/qap
	if math.Abs(d) < cfTiny {
		d = cfTiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= cfIters; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < cfTiny {
			d = cfTiny
		}
		c = 1 + aa/c
		if math.Abs(c) < cfTiny {
			c = cfTiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < cfTiny {
			d = cfTiny
		}
		c = 1 + aa/c
		if math.Abs(c) < cfTiny {
			c = cfTiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < cfEps {
			break
		}
	}
	return h
}

// RegIncGammaP is the regularized lower incomplete gamma function
// P(a, x) = γ(a, x)/Γ(a), for a > 0 and x ≥ 0.
func RegIncGammaP(a, x float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(x) || a <= 0 || x < 0:
		return math.NaN()
	case x == 0:
		return 0
	case math.IsInf(x, 1):
		return 1
	case x < a+1:
		return gammaSeries(a, x)
	}
	return 1 - gammaCF(a, x)
}

// RegIncGammaQ is the regularized upper incomplete gamma function
// Q(a, x) = 1 − P(a, x), computed directly in the tail so that small values
// keep their precision.
func RegIncGammaQ(a, x float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(x) || a <= 0 || x < 0:
		return math.NaN()
	case x == 0:
		return 1
	case math.IsInf(x, 1):
		return 0
	case x < a+1:
		return 1 - gammaSeries(a, x)
	}
	return gammaCF(a, x)
}

// gammaSeries is P(a, x) by its series (NR eq. 6.2.5).
func gammaSeries(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	ap := a
	sum := 1 / a
	del := sum
	for range cfIters {
		ap++
		del *= x / ap
		sum += del
		if math.Abs(del) < math.Abs(sum)*cfEps {
			break
		}
	}
	return sum * math.Exp(-x+a*math.Log(x)-lg)
}

// gammaCF is Q(a, x) by its continued fraction (NR eq. 6.2.7), modified
// Lentz.
func gammaCF(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	b := x + 1 - a
	c := 1 / cfTiny
	d := 1 / b
	h := d
	for i := 1; i <= cfIters; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < cfTiny {
			d = cfTiny
		}
		c = b + an/c
		if math.Abs(c) < cfTiny {
			c = cfTiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < cfEps {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

// StudentTCDF is the CDF of Student's t distribution with df > 0 degrees of
// freedom (df may be fractional, as Welch's is).
func StudentTCDF(t, df float64) float64 {
	if math.IsNaN(t) || math.IsNaN(df) || df <= 0 {
		return math.NaN()
	}
	if math.IsInf(df, 1) {
		return NormalCDF(t)
	}
	tail := studentTail(math.Abs(t), df)
	if t < 0 {
		return tail
	}
	return 1 - tail
}

// StudentTSF is the survival function P(T > t) = 1 − CDF(t), computed
// without cancellation in the upper tail.
func StudentTSF(t, df float64) float64 { return StudentTCDF(-t, df) }

// studentTail is P(T > t) for t ≥ 0: ½·I_{ν/(ν+t²)}(ν/2, ½).
func studentTail(t, df float64) float64 {
	if math.IsInf(t, 1) {
		return 0
	}
	t2 := t * t
	return 0.5 * incBeta(df/2, 0.5, df/(df+t2), t2/(df+t2))
}

// studentPDF is the density of Student's t at t.
func studentPDF(t, df float64) float64 {
	l1, _ := math.Lgamma((df + 1) / 2)
	l2, _ := math.Lgamma(df / 2)
	return math.Exp(l1 - l2 - 0.5*math.Log(df*math.Pi) - (df+1)/2*math.Log1p(t*t/df))
}

// StudentTQuantile is the inverse of StudentTCDF: the t with CDF(t) = p,
// for 0 < p < 1 (−Inf and +Inf at 0 and 1). It solves in the tail nearer p
// by safeguarded Newton steps from the normal quantile.
func StudentTQuantile(p, df float64) float64 {
	switch {
	case math.IsNaN(p) || math.IsNaN(df) || df <= 0 || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p == 0.5:
		return 0
	case math.IsInf(df, 1):
		return NormalQuantile(p)
	}
	// Solve studentTail(t) = q for t > 0, q = min(p, 1−p).
	q, sign := 1-p, 1.0
	if p < 0.5 {
		q, sign = p, -1
	}
	lo, hi := 0.0, math.Inf(1)
	t := math.Max(-NormalQuantile(q), 1e-3)
	for range 200 {
		f := studentTail(t, df) - q // decreasing in t
		if f > 0 {
			lo = t
		} else {
			hi = t
		}
		if f == 0 {
			break
		}
		next := t + f/studentPDF(t, df)
		if !(next > lo && next < hi) || math.IsNaN(next) {
			if math.IsInf(hi, 1) {
				next = 2*t + 1
			} else {
				next = (lo + hi) / 2
			}
		}
		if math.Abs(next-t) <= 1e-14*math.Abs(t) {
			t = next
			break
		}
		t = next
	}
	return sign * t
}

// ChiSquareCDF is the CDF of the χ² distribution with k > 0 degrees of
// freedom: P(k/2, x/2).
func ChiSquareCDF(x, k float64) float64 {
	if x <= 0 {
		if k > 0 {
			return 0
		}
		return math.NaN()
	}
	return RegIncGammaP(k/2, x/2)
}

// ChiSquareSF is the χ² survival function 1 − CDF (the p-value of a χ²
// statistic): Q(k/2, x/2).
func ChiSquareSF(x, k float64) float64 {
	if x <= 0 {
		if k > 0 {
			return 1
		}
		return math.NaN()
	}
	return RegIncGammaQ(k/2, x/2)
}

// NormalCDF is the standard normal CDF.
func NormalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// NormalQuantile is the standard normal quantile function.
func NormalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }
