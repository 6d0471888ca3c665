package accountant

import (
	"fmt"
	"math"
)

// DefaultDiscretization is the PLD's default loss grid step.
const DefaultDiscretization = 1e-4

// pldTailZ sets the loss range of a single step: x within pldTailZ standard
// deviations of both means (outside, mass about e^-55). Beyond the top of the
// range the connect-the-dots construction puts the remaining δ at +∞.
const pldTailZ = 10.5

// compositionTail is the total mass the composed distribution may fall
// outside the FFT window (Chernoff bound); it is added to the infinite-loss
// mass, so the result stays an upper bound.
const compositionTail = 1e-15

// LossPMF is a pessimistic discretized privacy loss distribution: mass
// PMF[i] at loss (Offset+i)·Interval, plus Infinite mass at loss +∞. The
// hockey-stick divergences it gives are upper bounds on the true ones.
type LossPMF struct {
	Interval float64
	Offset   int
	PMF      []float64
	Infinite float64
}

// PLD is the pair of loss distributions of a mechanism under add/remove
// adjacency: Remove is the loss of the mechanism's output on D against D
// minus one record, Add the reverse. A guarantee must hold for both.
type PLD struct {
	Remove, Add LossPMF
}

// normCDF and normSF return Φ(x) and 1-Φ(x), accurate in both tails.
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
func normSF(x float64) float64  { return 0.5 * math.Erfc(x/math.Sqrt2) }

// SampledGaussianPLD discretizes one step of the Poisson-subsampled Gaussian
// mechanism (sensitivity 1, noise σ, sampling probability q) on the loss grid
// kΔ. With μ0 = N(0, σ²), μ1 = N(1, σ²) and P = (1-q)μ0 + qμ1, the remove
// case compares P against μ0 (loss L(x) = log(1 - q + q·exp((2x-1)/(2σ²))),
// increasing in x) and the add case μ0 against P (loss -L(x)).
//
// The discretization is pessimistic by "connecting the dots" (Doroshenko,
// Ghazi, Kamath, Kumar, Manurangsi 2022): as a function of t = e^ε the
// hockey-stick divergence δ(t) is convex, with δ(0) = 1; the discrete
// distribution is the one whose δ(t) is the piecewise-linear interpolation
// of the exact δ at the grid points t_k = e^(kΔ) (and of (0, 1)), flat at
// the last grid value beyond it (that value becomes mass at +∞). A chord of
// a convex function lies above it, so δ is over-estimated everywhere, by
// O(Δ²) instead of the O(Δ) of rounding each loss up — which matters when
// thousands of steps are composed. The kink at t_k has slope change Q_k, the
// mass of the second distribution at loss kΔ, and the first has P_k = t_k·Q_k.
func SampledGaussianPLD(q, sigma, interval float64) (*PLD, error) {
	if !(q > 0 && q <= 1) {
		return nil, fmt.Errorf("accountant: PLD sampling probability %v outside (0, 1]", q)
	}
	if !(sigma > 0) || math.IsInf(sigma, 1) {
		return nil, fmt.Errorf("accountant: PLD noise multiplier %v must be positive and finite", sigma)
	}
	if interval == 0 {
		interval = DefaultDiscretization
	}
	if !(interval > 0) {
		return nil, fmt.Errorf("accountant: PLD interval %v must be positive", interval)
	}
	s2 := sigma * sigma
	loss := func(x float64) float64 {
		return math.Log1p(q * math.Expm1((2*x-1)/(2*s2)))
	}
	// inv is the x with L(x) = l, or -Inf below L's range.
	inv := func(l float64) float64 {
		v := math.Expm1(l)/q + 1 // (e^l - (1-q))/q
		if !(v > 0) {
			return math.Inf(-1)
		}
		return s2*math.Log(v) + 0.5
	}
	xLo, xHi := -pldTailZ*sigma, 1+pldTailZ*sigma

	// Remove: δ(ε) = P(x > x_ε) - e^ε μ0(x > x_ε) with x_ε = inv(ε); using
	// e^ε = 1 - q + q·exp((2x_ε-1)/(2σ²)) the (1-q) parts cancel exactly:
	// δ(ε) = q·[SF((x_ε-1)/σ) - exp((2x_ε-1)/(2σ²))·SF(x_ε/σ)].
	remDelta := func(eps float64) float64 {
		x := inv(eps)
		if math.IsInf(x, -1) {
			return -math.Expm1(eps) // ε below the loss range: 1 - e^ε
		}
		return q * (normSF((x-1)/sigma) - math.Exp((2*x-1)/(2*s2))*normSF(x/sigma))
	}
	rem := connectDots(int(math.Floor(loss(xLo)/interval)), int(math.Ceil(loss(xHi)/interval)), interval, remDelta)

	// Add: loss -L(x) > ε ⇔ x < x'_ε = inv(-ε);
	// δ(ε) = Φ(x'/σ) - e^ε·[(1-q)Φ(x'/σ) + qΦ((x'-1)/σ)], zero once
	// ε ≥ -log(1-q), the largest loss.
	addDelta := func(eps float64) float64 {
		x := inv(-eps)
		if math.IsInf(x, -1) {
			return 0
		}
		e := math.Exp(eps)
		return (1-e*(1-q))*normCDF(x/sigma) - e*q*normCDF((x-1)/sigma)
	}
	addHi := xLo
	if q < 1 {
		addHi = math.Inf(-1)
	}
	aTop := -loss(addHi)
	if q < 1 {
		aTop = -math.Log1p(-q)
	}
	add := connectDots(int(math.Floor(-loss(xHi)/interval)), int(math.Ceil(aTop/interval)), interval, addDelta)
	return &PLD{Remove: rem, Add: add}, nil
}

// connectDots builds the pessimistic discrete loss distribution on grid
// points lo..hi (times interval) from the exact hockey-stick curve delta.
func connectDots(lo, hi int, interval float64, delta func(float64) float64) LossPMF {
	n := hi - lo + 1
	t := make([]float64, n)
	d := make([]float64, n)
	for i := range n {
		eps := float64(lo+i) * interval
		t[i] = math.Exp(eps)
		d[i] = max(delta(eps), 0)
	}
	// Enforce that δ is non-increasing and convex in t despite rounding in
	// the tails: raising a value only adds pessimism.
	for i := n - 2; i >= 0; i-- {
		d[i] = max(d[i], d[i+1])
	}
	out := LossPMF{Interval: interval, Offset: lo, PMF: make([]float64, n), Infinite: d[n-1]}
	// Slopes: left of t_0 the chord from (0, 1); right of t_{n-1} flat.
	prev := (d[0] - 1) / t[0]
	for i := range n {
		next := 0.0
		if i+1 < n {
			next = (d[i+1] - d[i]) / (t[i+1] - t[i])
		}
		qk := max(next-prev, 0)
		out.PMF[i] = t[i] * qk
		prev = max(next, prev)
	}
	return out
}

// DeltaForEpsilon returns the hockey-stick divergence
// δ(ε) = m∞ + Σ_ℓ p(ℓ)·(1 - e^(ε-ℓ))₊.
func (l *LossPMF) DeltaForEpsilon(eps float64) float64 {
	d := l.Infinite
	for i := len(l.PMF) - 1; i >= 0; i-- {
		loss := float64(l.Offset+i) * l.Interval
		if loss <= eps {
			break
		}
		d += l.PMF[i] * -math.Expm1(eps-loss)
	}
	return min(d, 1)
}

// EpsilonForDelta returns the smallest ε ≥ 0 with δ(ε) ≤ delta, solving
// exactly between grid points: for ε between consecutive losses the set
// {ℓ > ε} is fixed and δ(ε) = A - e^ε·B.
func (l *LossPMF) EpsilonForDelta(delta float64) float64 {
	if l.Infinite > delta {
		return math.Inf(1)
	}
	a, b := l.Infinite, 0.0 // A = m∞ + Σ p, B = Σ p·e^-ℓ over ℓ > ε
	for i := len(l.PMF) - 1; i >= 0; i-- {
		loss := float64(l.Offset+i) * l.Interval
		next := math.Inf(-1)
		if i > 0 {
			next = float64(l.Offset+i-1) * l.Interval
		}
		a += l.PMF[i]
		b += l.PMF[i] * math.Exp(-loss)
		// For ε ∈ [next, loss): δ(ε) = a - e^ε·b; δ(next) > delta means the
		// answer lies in this interval.
		if b > 0 && a-math.Exp(next)*b > delta || math.IsInf(next, -1) {
			if !(b > 0) {
				return max(loss, 0)
			}
			eps := math.Log((a - delta) / b)
			if a <= delta {
				eps = next
			}
			return max(min(eps, loss), next, 0)
		}
	}
	return 0
}

// Epsilon returns the ε for which the mechanism is (ε, δ)-DP under add/remove.
func (p *PLD) Epsilon(delta float64) float64 {
	return max(p.Remove.EpsilonForDelta(delta), p.Add.EpsilonForDelta(delta))
}

// Delta returns the δ for which the mechanism is (ε, δ)-DP under add/remove.
func (p *PLD) Delta(eps float64) float64 {
	return max(p.Remove.DeltaForEpsilon(eps), p.Add.DeltaForEpsilon(eps))
}

// SelfCompose returns the distribution of n-fold composition.
func (p *PLD) SelfCompose(n int) (*PLD, error) {
	r, err := p.Remove.selfCompose(n)
	if err != nil {
		return nil, err
	}
	a, err := p.Add.selfCompose(n)
	if err != nil {
		return nil, err
	}
	return &PLD{Remove: r, Add: a}, nil
}

// maxFFTSize bounds the composition's FFT (2^26 complex values, 1 GiB).
const maxFFTSize = 1 << 26

// selfCompose convolves the PMF with itself n times by FFT. Only the window
// [lo, hi] of the composed loss that holds all but compositionTail of the
// mass (Chernoff bounds from the moment generating function) is computed;
// the circular convolution folds the mass outside the window into it, and
// that mass is also added to the infinite loss, so δ is never under-stated.
func (l *LossPMF) selfCompose(n int) (LossPMF, error) {
	if n < 0 {
		return LossPMF{}, fmt.Errorf("accountant: negative composition count %d", n)
	}
	if n == 0 {
		return LossPMF{Interval: l.Interval, PMF: []float64{1}}, nil
	}
	if n == 1 {
		c := *l
		c.PMF = append([]float64(nil), l.PMF...)
		return c, nil
	}
	lo, hi := l.chernoffWindow(n, compositionTail)
	size := 1
	for size < hi-lo+1 {
		size <<= 1
	}
	if size > maxFFTSize {
		return LossPMF{}, fmt.Errorf("accountant: PLD composition needs an FFT of %d points; use a coarser interval", size)
	}
	// Index j of the buffer holds loss index (Offset + j); the n-fold sum
	// has loss index n·Offset + j', stored at j' mod size.
	buf := make([]complex128, size)
	for j, v := range l.PMF {
		buf[j%size] += complex(v, 0)
	}
	fft(buf, false)
	for i := range buf {
		buf[i] = powComplex(buf[i], n)
	}
	fft(buf, true)
	out := LossPMF{Interval: l.Interval, Offset: lo, PMF: make([]float64, hi-lo+1)}
	base := n * l.Offset
	for k := lo; k <= hi; k++ {
		j := ((k-base)%size + size) % size
		out.PMF[k-lo] = max(real(buf[j]), 0)
	}
	out.Infinite = min(1, 1-math.Pow(1-l.Infinite, float64(n))+compositionTail)
	return out, nil
}

// chernoffWindow returns loss indices [lo, hi] outside of which the n-fold
// sum of the finite part of the PMF has mass at most tail: for t > 0,
// P(S ≥ u) ≤ M(t)^n e^(-tu) and P(S ≤ v) ≤ M(-t)^n e^(tv), with M the moment
// generating function, minimized over a grid of t. The bounds use a copy of
// the PMF coarsened by rounding up (for hi) and down (for lo), which keeps
// them valid and makes them cheap.
func (l *LossPMF) chernoffWindow(n int, tail float64) (lo, hi int) {
	const coarse = 16
	type pt struct{ up, down, logp float64 }
	var pts []pt
	for i := 0; i < len(l.PMF); i += coarse {
		m := 0.0
		for j := i; j < min(i+coarse, len(l.PMF)); j++ {
			m += l.PMF[j]
		}
		if m <= 0 {
			continue
		}
		end := min(i+coarse, len(l.PMF)) - 1
		pts = append(pts, pt{up: float64(l.Offset + end), down: float64(l.Offset + i), logp: math.Log(m)})
	}
	logTail := math.Log(tail / 2)
	fn := float64(n)
	bestHi, bestLo := math.Inf(1), math.Inf(-1)
	// t in index units: the loss scale is Interval, so t·Interval spans
	// 1e-3 to 1e3 in loss units.
	for e := -3.0; e <= 3.0; e += 0.25 {
		t := math.Pow(10, e) * l.Interval
		up, down := newLogSumExp(), newLogSumExp()
		for _, p := range pts {
			up.add(p.logp + t*p.up)
			down.add(p.logp - t*p.down)
		}
		bestHi = min(bestHi, (fn*up.value()-logTail)/t)
		bestLo = max(bestLo, (logTail-fn*down.value())/t)
	}
	minIdx, maxIdx := fn*float64(l.Offset), fn*float64(l.Offset+len(l.PMF)-1)
	return int(math.Floor(max(bestLo, minIdx))), int(math.Ceil(min(bestHi, maxIdx)))
}

// PLDSampledGaussianEpsilon is the ε of steps runs of the Poisson-subsampled
// Gaussian mechanism under the PLD accountant (interval 0 means
// DefaultDiscretization).
func PLDSampledGaussianEpsilon(q, sigma float64, steps int, delta, interval float64) (float64, error) {
	if !(delta > 0 && delta < 1) {
		return 0, fmt.Errorf("accountant: delta %v outside (0, 1)", delta)
	}
	if q == 0 || steps == 0 || math.IsInf(sigma, 1) {
		return 0, nil
	}
	if sigma == 0 {
		return math.Inf(1), nil
	}
	p, err := SampledGaussianPLD(q, sigma, interval)
	if err != nil {
		return 0, err
	}
	c, err := p.SelfCompose(steps)
	if err != nil {
		return 0, err
	}
	return c.Epsilon(delta), nil
}
