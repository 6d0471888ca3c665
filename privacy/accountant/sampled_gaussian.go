package accountant

import (
	"fmt"
	"math"
)

// SampledGaussianRDP returns the RDP at order alpha of the Poisson-subsampled
// Gaussian mechanism with sampling probability q and noise multiplier sigma
// (noise standard deviation over L2 sensitivity), for one step.
//
// Edge cases: q = 0 costs nothing (even at α = ∞); σ = 0 with q > 0 is
// unbounded; q = 1 is the plain Gaussian mechanism, α/(2σ²); α = ∞ with q > 0
// is unbounded. Orders must be > 1.
func SampledGaussianRDP(q, sigma, alpha float64) (float64, error) {
	if !(q >= 0 && q <= 1) {
		return 0, fmt.Errorf("accountant: sampling probability %v outside [0, 1]", q)
	}
	if !(sigma >= 0) {
		return 0, fmt.Errorf("accountant: negative noise multiplier %v", sigma)
	}
	if !(alpha > 1) {
		return 0, fmt.Errorf("accountant: Rényi order %v must exceed 1", alpha)
	}
	switch {
	case q == 0:
		return 0, nil
	case math.IsInf(sigma, 1):
		return 0, nil
	case sigma == 0 || math.IsInf(alpha, 1):
		return math.Inf(1), nil
	case q == 1:
		return alpha / (2 * sigma * sigma), nil
	}
	var logA float64
	if alpha == math.Trunc(alpha) && alpha <= 1<<20 {
		logA = logAInt(q, sigma, int(alpha))
	} else {
		logA = logAFrac(q, sigma, alpha)
	}
	if logA < 0 {
		// A_α ≥ 1 always (a Rényi divergence is non-negative); a negative log
		// is rounding in the alternating series.
		logA = 0
	}
	return logA / (alpha - 1), nil
}

// logAInt returns log A_α for integer α ≥ 2 and 0 < q < 1 (Mironov, Talwar,
// Zhang 2019, §3.2):
//
//	A_α = Σ_{i=0}^{α} C(α, i) q^i (1-q)^(α-i) exp((i² - i)/(2σ²)).
func logAInt(q, sigma float64, alpha int) float64 {
	logQ, log1mQ := math.Log(q), math.Log1p(-q)
	inv2s2 := 1 / (2 * sigma * sigma)
	lfA := logFactorial(alpha)
	acc := newLogSumExp()
	for i := 0; i <= alpha; i++ {
		fi := float64(i)
		logCoef := lfA - logFactorial(i) - logFactorial(alpha-i)
		acc.add(logCoef + fi*logQ + float64(alpha-i)*log1mQ + (fi*fi-fi)*inv2s2)
	}
	return acc.value()
}

// maxFracTerms bounds the fractional-order series beyond i = α; if it has not
// converged by then the order is reported as unbounded (+Inf), which is
// conservative: that order is then never the one chosen.
const maxFracTerms = 4096

// eulerDepth is the number of repeated averagings applied to the partial sums
// of the alternating tail (Euler–van Wijngaarden transform).
const eulerDepth = 12

// logAFrac returns log A_α for fractional α > 1 and 0 < q < 1 by the two-sided
// series of Mironov, Talwar, Zhang 2019, §3.3. With z0 = σ² log(1/q - 1) + 1/2
// the integral splits at z0 into A_α = Σ_i (s0_i + s1_i), where
//
//	s0_i = C(α,i) q^i (1-q)^(α-i) exp((i²-i)/(2σ²)) · erfc((i - z0)/(√2σ))/2
//	s1_i = C(α,i) q^(α-i) (1-q)^i exp(((α-i)²-(α-i))/(2σ²)) · erfc((z0 - (α-i))/(√2σ))/2
//
// and C(α, i) = α(α-1)…(α-i+1)/i! is the generalized binomial coefficient,
// whose sign alternates once i > α.
//
// Past i ≈ max(α, z0) both s0_i and s1_i decay only polynomially, like
// |C(α, i)|/i ~ i^(-α-2) (the Gaussian tail of erfc cancels the growth of
// exp(i²/(2σ²))), so plain truncation would need 10⁴–10⁶ terms near α = 1.
// The tail alternates with smooth magnitudes, so the partial sums are
// accelerated by repeated averaging (Euler–van Wijngaarden); the series is
// stopped when the accelerated sum is stable to 1e-15 relative. Terms are
// scaled by the largest so that the sum is formed in linear space.
func logAFrac(q, sigma, alpha float64) float64 {
	logQ, log1mQ := math.Log(q), math.Log1p(-q)
	inv2s2 := 1 / (2 * sigma * sigma)
	z0 := sigma*sigma*(math.Log(1/q-1)) + 0.5
	sqrt2s := math.Sqrt2 * sigma

	limit := int(math.Ceil(alpha)) + maxFracTerms
	// The last eulerDepth+1 terms u_i = s0_i + s1_i, scaled by exp(-ref), in
	// a ring, and the sum of all earlier terms with the same scale. ref
	// starts at the log of the first term without its erfc factor and is
	// raised whenever a term would grow past e^30 of it.
	var ring [eulerDepth + 1]float64
	head, ref := 0.0, alpha*log1mQ
	logAbsCoef, negative := 0.0, false
	minTerms := int(math.Ceil(alpha)) + eulerDepth + 2
	var sums [eulerDepth + 1]float64
	prevEst := math.NaN()
	for i := 0; i < limit; i++ {
		fi := float64(i)
		j := alpha - fi
		lt0 := logAbsCoef + fi*logQ + j*log1mQ + (fi*fi-fi)*inv2s2 - ref
		lt1 := logAbsCoef + j*logQ + fi*log1mQ + (j*j-j)*inv2s2 - ref
		x0, x1 := (fi-z0)/sqrt2s, (z0-j)/sqrt2s
		if lt0 > 30 || lt1 > 30 {
			l := logAdd(lt0+logErfc(x0), lt1+logErfc(x1)) - math.Ln2
			if math.IsInf(l, 1) || math.IsNaN(l) {
				return math.Inf(1)
			}
			if l > 0 {
				f := math.Exp(-l)
				head *= f
				for k := range ring {
					ring[k] *= f
				}
				ref += l
				lt0 -= l
				lt1 -= l
			}
		}
		u := halfErfcTimesExp(lt0, x0) + halfErfcTimesExp(lt1, x1)
		if negative {
			u = -u
		}
		slot := i % len(ring)
		head += ring[slot] // the term leaving the ring (0 while filling)
		ring[slot] = u
		// C(α, i+1) = C(α, i)·(α - i)/(i + 1).
		r := alpha - fi
		if r < 0 {
			negative = !negative
		}
		logAbsCoef += math.Log(math.Abs(r) / (fi + 1))
		if fi > alpha && math.Abs(u) < 1e-17 && math.Abs(ring[(i+len(ring)-1)%len(ring)]) < 1e-17 {
			// Two consecutive terms below 1e-17 of the largest past the
			// point where the magnitudes decrease: the rest of the
			// alternating tail is smaller still.
			est := head
			for _, v := range ring {
				est += v
			}
			if est > 0 {
				return ref + math.Log(est)
			}
		}
		if i+1 < minTerms {
			continue
		}
		// Partial sums over the ring, oldest first, then repeated averaging.
		acc := head
		for k := range sums {
			acc += ring[(i+1+k)%len(ring)]
			sums[k] = acc
		}
		for d := eulerDepth; d > 0; d-- {
			for k := 0; k < d; k++ {
				sums[k] = (sums[k] + sums[k+1]) / 2
			}
		}
		est := sums[0]
		if est > 0 && math.Abs(est-prevEst) <= 1e-15*est {
			return ref + math.Log(est)
		}
		prevEst = est
	}
	return math.Inf(1)
}

// halfErfcTimesExp returns exp(lt)·erfc(x)/2 without overflow or premature
// underflow.
func halfErfcTimesExp(lt, x float64) float64 {
	if x < 25 {
		return math.Exp(lt) * math.Erfc(x) / 2
	}
	return math.Exp(lt + logErfc(x) - math.Ln2)
}
