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

	// Each curve returns δ(ε) and c(ε) = δ(ε) - (1 - e^ε), each computed
	// without cancellation where it is small: c is the accurate one below
	// ε = 0, δ above.
	//
	// Remove: with x = inv(ε), e^ε = 1 - q + q·exp((2x-1)/(2σ²)), so
	// δ = P(x' > x) - e^ε μ0(x' > x) = q·[SF((x-1)/σ) - exp((2x-1)/(2σ²))·SF(x/σ)]
	// c = e^ε μ0(x' ≤ x) - P(x' ≤ x) = q·[exp((2x-1)/(2σ²))·Φ(x/σ) - Φ((x-1)/σ)].
	remCurve := func(eps float64) (float64, float64) {
		x := inv(eps)
		if math.IsInf(x, -1) {
			return -math.Expm1(eps), 0 // ε below the loss range
		}
		w := math.Exp((2*x - 1) / (2 * s2))
		return q * (normSF((x-1)/sigma) - w*normSF(x/sigma)), q * (w*normCDF(x/sigma) - normCDF((x-1)/sigma))
	}
	rem := connectDots(int(math.Floor(loss(xLo)/interval)), int(math.Ceil(loss(xHi)/interval)), interval, remCurve)

	// Add: loss -L(x) > ε ⇔ x < x' = inv(-ε), e^-ε = 1 - q + q·w with
	// w = exp((2x'-1)/(2σ²)); zero δ once ε ≥ -log(1-q), the largest loss:
	// δ = Φ(x'/σ) - e^ε·[(1-q)Φ(x'/σ) + qΦ((x'-1)/σ)] = e^ε q [wΦ(x'/σ) - Φ((x'-1)/σ)]
	// c = e^ε·P(x ≥ x') - μ0(x ≥ x') = e^ε q [SF((x'-1)/σ) - w·SF(x'/σ)].
	addCurve := func(eps float64) (float64, float64) {
		x := inv(-eps)
		if math.IsInf(x, -1) {
			return 0, math.Expm1(eps)
		}
		w := math.Exp((2*x - 1) / (2 * s2))
		eq := math.Exp(eps) * q
		return eq * (w*normCDF(x/sigma) - normCDF((x-1)/sigma)), eq * (normSF((x-1)/sigma) - w*normSF(x/sigma))
	}
	addHi := xLo
	if q < 1 {
		addHi = math.Inf(-1)
	}
	aTop := -loss(addHi)
	if q < 1 {
		aTop = -math.Log1p(-q)
	}
	add := connectDots(int(math.Floor(-loss(xHi)/interval)), int(math.Ceil(aTop/interval)), interval, addCurve)
	return &PLD{Remove: rem, Add: add}, nil
}

// connectDots builds the pessimistic discrete loss distribution on grid
// points lo..hi (times interval) from the exact hockey-stick curve, given as
// δ(ε) and c(ε) = δ(ε) - (1 - e^ε). The mass of the second distribution at
// t_i = e^(ε_i) is the change of slope of the interpolant there; slopes of
// δ and of c differ by the constant 1, so each change is formed from the
// representation that is accurate at that point (c below ε = 0).
func connectDots(lo, hi int, interval float64, curve func(float64) (float64, float64)) LossPMF {
	n := hi - lo + 1
	t := make([]float64, n)
	d := make([]float64, n)
	c := make([]float64, n)
	for i := range n {
		eps := float64(lo+i) * interval
		t[i] = math.Exp(eps)
		d[i], c[i] = curve(eps)
		d[i], c[i] = max(d[i], 0), max(c[i], 0)
	}
	out := LossPMF{Interval: interval, Offset: lo, PMF: make([]float64, n), Infinite: d[n-1]}
	slopeD := func(i int) float64 { // slope of δ on [t_i, t_{i+1}]; 0 right of the grid
		if i >= n-1 {
			return 0
		}
		return (d[i+1] - d[i]) / (t[i+1] - t[i])
	}
	slopeC := func(i int) float64 { // slope of c; from (0, 0) left of the grid
		if i < 0 {
			return c[0] / t[0]
		}
		if i >= n-1 {
			return 1
		}
		return (c[i+1] - c[i]) / (t[i+1] - t[i])
	}
	for i := range n {
		var qk float64
		if float64(lo+i)*interval < 0 {
			qk = slopeC(i) - slopeC(i-1)
		} else if i == 0 {
			qk = slopeD(0) - (slopeC(-1) - 1)
		} else {
			qk = slopeD(i) - slopeD(i-1)
		}
		out.PMF[i] = t[i] * max(qk, 0)
	}
	// Mass lost to the clamps above (rounding where the curve is nearly
	// flat) goes to +∞, which keeps δ an upper bound.
	total := out.Infinite
	for _, v := range out.PMF {
		total += v
	}
	out.Infinite += max(1-total, 0)
	return out.trimmed(pldTrimMass)
}

// pldTrimMass is the mass cut from each end of a single step's distribution:
// the lowest losses are raised to the first kept grid point and the highest
// moved to +∞, both of which only increase δ, and the grid (and so the FFT)
// gets much shorter.
const pldTrimMass = 1e-20

func (l LossPMF) trimmed(mass float64) LossPMF {
	lo, acc := 0, 0.0
	for lo < len(l.PMF)-1 && acc+l.PMF[lo] < mass {
		acc += l.PMF[lo]
		lo++
	}
	l.PMF[lo] += acc
	hi, top := len(l.PMF)-1, 0.0
	for hi > lo && top+l.PMF[hi] < mass {
		top += l.PMF[hi]
		hi--
	}
	l.Infinite += top
	l.PMF = l.PMF[lo : hi+1]
	l.Offset += lo
	return l
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
	r, a, err := selfComposePair(&p.Remove, &p.Add, n)
	if err != nil {
		return nil, err
	}
	return &PLD{Remove: r, Add: a}, nil
}

// maxFFTSize bounds the composition's FFT (2^26 complex values, 1 GiB).
const maxFFTSize = 1 << 26

// selfComposePair convolves each of two PMFs with itself n times by FFT.
// Only the window [lo, hi] of each composed loss that holds all but
// compositionTail of the mass (Chernoff bounds) is computed; the circular
// convolution folds the mass outside the window into it, and that mass is
// also added to the infinite loss, so δ is never under-stated. Both real
// sequences share one complex FFT (a in the real part, b in the imaginary).
func selfComposePair(a, b *LossPMF, n int) (LossPMF, LossPMF, error) {
	if n < 0 {
		return LossPMF{}, LossPMF{}, fmt.Errorf("accountant: negative composition count %d", n)
	}
	if n <= 1 {
		return a.selfComposeSmall(n), b.selfComposeSmall(n), nil
	}
	aLo, aHi := a.chernoffWindow(n, compositionTail)
	bLo, bHi := b.chernoffWindow(n, compositionTail)
	size := 1
	for size < max(aHi-aLo, bHi-bLo)+1 {
		size <<= 1
	}
	if size > maxFFTSize {
		return LossPMF{}, LossPMF{}, fmt.Errorf("accountant: PLD composition needs an FFT of %d points; use a coarser interval", size)
	}
	// Buffer index j holds loss index Offset + j; the n-fold sum has loss
	// index n·Offset + j', stored at j' mod size.
	buf := make([]complex128, size)
	for j, v := range a.PMF {
		buf[j%size] += complex(v, 0)
	}
	for j, v := range b.PMF {
		buf[j%size] += complex(0, v)
	}
	fft(buf, false)
	// Separate the two spectra, raise each to the n-th power, recombine.
	for k := 0; k <= size/2; k++ {
		m := (size - k) % size
		zk, zm := buf[k], buf[m]
		ak := (zk + conj(zm)) / 2
		bk := (zk - conj(zm)) / complex(0, 2)
		am := (zm + conj(zk)) / 2
		bm := (zm - conj(zk)) / complex(0, 2)
		ak, bk = powComplex(ak, n), powComplex(bk, n)
		buf[k] = ak + complex(0, 1)*bk
		if m != k {
			am, bm = powComplex(am, n), powComplex(bm, n)
			buf[m] = am + complex(0, 1)*bm
		}
	}
	fft(buf, true)
	extract := func(l *LossPMF, lo, hi int, part func(complex128) float64) LossPMF {
		out := LossPMF{Interval: l.Interval, Offset: lo, PMF: make([]float64, hi-lo+1)}
		base := n * l.Offset
		for k := lo; k <= hi; k++ {
			j := ((k-base)%size + size) % size
			out.PMF[k-lo] = max(part(buf[j]), 0)
		}
		out.Infinite = min(1, 1-math.Pow(1-l.Infinite, float64(n))+compositionTail)
		return out
	}
	return extract(a, aLo, aHi, func(z complex128) float64 { return real(z) }),
		extract(b, bLo, bHi, func(z complex128) float64 { return imag(z) }), nil
}

func conj(z complex128) complex128 { return complex(real(z), -imag(z)) }

func (l *LossPMF) selfComposeSmall(n int) LossPMF {
	if n == 0 {
		return LossPMF{Interval: l.Interval, PMF: []float64{1}}
	}
	c := *l
	c.PMF = append([]float64(nil), l.PMF...)
	return c
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
