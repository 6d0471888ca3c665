package aggregate

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// ErrCounterExhausted is returned by Counter.Release once the counter has
// made the releases it was sized for.
var ErrCounterExhausted = errors.New("aggregate: continual counter has made all its releases")

// TreeDepth is the number of levels of a binary tree over releases prefix
// sums: ⌈log2(releases+1)⌉, the bit length of releases. A unit's
// contribution reaches one node per level.
func TreeDepth(releases int) int { return bits.Len(uint(max(releases, 0))) }

// Continual describes a continual release of a running count: release t
// is the count so far, for t = 1, 2, …, up to Releases, all of them
// together (ε, δ)-DP. Sensitivity bounds the sum, over the whole stream,
// of the absolute increments one unit makes — its total contribution (for
// several counters sharing one budget, summed over them).
//
// The mechanism is the hybrid mechanism of Chan, Shi and Song (2011,
// "Private and Continual Release of Statistics", ACM TISSEC 14(3), §4):
//
//   - a logarithmic mechanism spends ε/2: at t = 2^k it releases β_k, the
//     increments since the previous power of two, with noise, and the
//     prefix sum at 2^k is Σ_{j≤k} β̂_j (k+1 noisy terms);
//   - the binary mechanism (ibid. §3; Dwork, Naor, Pitassi, Rothblum 2010)
//     spends ε/2 within each epoch (2^k, 2^{k+1}): a tree over its 2^k − 1
//     releases with D_k = k levels, release 2^k + r adding the sum of
//     popcount(r) noisy dyadic nodes.
//
// Each unit's increments sum to at most Δ = Sensitivity over the β's, over
// each epoch's tree levels, and over the epochs, so with Laplace noise of
// scale b = 2Δ/ε on each β and b_k = 2Δ·D_k/ε on epoch k's nodes the whole
// stream is ε-DP however long it runs: the noise of release t has
// variance (k+1)·2b² + popcount(r)·2b_k², O(log³ t), where T fresh
// releases at ε/T each would have variance 2(TΔ/ε)². Early releases are
// nearly as precise as one fresh release of the whole ε. With Gaussian
// noise every node gets the library's analytic σ for the L2 sensitivity
// Δ·√(1 + D_max), D_max = TreeDepth(Releases) bounding the epochs' depths;
// the variance then grows as log² t.
//
// The times of the releases may follow when they are asked for, as long as
// they depend only on earlier releases and public facts: a unit's
// increments still sum to at most Δ over every partition of the stream.
type Continual struct {
	Noise          Noise
	Epsilon, Delta float64
	Sensitivity    float64
	// Releases bounds the number of releases (and, for Gaussian noise,
	// calibrates σ).
	Releases int
}

func (c Continual) check() error {
	if c.Releases < 1 {
		return fmt.Errorf("aggregate: a continual counter needs at least one release (got %d)", c.Releases)
	}
	if !(c.Sensitivity > 0) || math.IsInf(c.Sensitivity, 0) {
		return fmt.Errorf("aggregate: continual sensitivity %v must be finite and > 0", c.Sensitivity)
	}
	return nil
}

// nodes returns the mechanisms of the logarithmic part's terms and of
// epoch k's tree nodes (k ≥ 1).
func (c Continual) nodes() (logNode Mechanism, epochNode func(k int) Mechanism, err error) {
	if err := c.check(); err != nil {
		return Mechanism{}, nil, err
	}
	if c.Noise == Gaussian {
		m := Mechanism{Noise: Gaussian, Epsilon: c.Epsilon, Delta: c.Delta,
			L0: int64(1 + TreeDepth(c.Releases)), LInf: c.Sensitivity}
		if err := m.Check(); err != nil {
			return Mechanism{}, nil, err
		}
		return m, func(int) Mechanism { return m }, nil
	}
	logNode = Mechanism{Noise: Laplace, Epsilon: c.Epsilon / 2, L0: 1, LInf: c.Sensitivity}
	if err := logNode.Check(); err != nil {
		return Mechanism{}, nil, err
	}
	return logNode, func(k int) Mechanism {
		return Mechanism{Noise: Laplace, Epsilon: c.Epsilon / 2 / float64(k), L0: 1, LInf: c.Sensitivity}
	}, nil
}

// Term is the mechanism of the logarithmic terms: Laplace of scale 2Δ/ε
// (epoch k's nodes have k times that), or the shared Gaussian σ. An
// accountant describes the counter by it (accountant.HybridCounter).
func (c Continual) Term() (Mechanism, error) {
	m, _, err := c.nodes()
	return m, err
}

// split returns t's epoch k (2^k ≤ t < 2^{k+1}) and its offset r = t − 2^k.
func split(t int) (k, r int) {
	k = bits.Len(uint(t)) - 1
	return k, t - 1<<k
}

// VarianceAt is the noise variance of release t (1 ≤ t ≤ Releases), as
// Counter.Release reports it.
func (c Continual) VarianceAt(t int) (float64, error) {
	logNode, epochNode, err := c.nodes()
	if err != nil {
		return 0, err
	}
	if t < 1 || t > c.Releases {
		return 0, fmt.Errorf("aggregate: release %d outside 1…%d", t, c.Releases)
	}
	k, r := split(t)
	v := float64(k+1) * logNode.Variance()
	if r > 0 {
		v += float64(bits.OnesCount(uint(r))) * epochNode(k).Variance()
	}
	return v, nil
}

// MaxVariance is the largest VarianceAt over the Releases releases: in
// each epoch k, the offset r ≤ min(2^k − 1, Releases − 2^k) with the most
// set bits.
func (c Continual) MaxVariance() (float64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	worst := 0.0
	for k := 0; 1<<k <= c.Releases; k++ {
		rmax := min(1<<k-1, c.Releases-1<<k)
		r := rmax
		if rmax > 0 {
			if m := 1<<(bits.Len(uint(rmax))-1) - 1; bits.OnesCount(uint(m)) > bits.OnesCount(uint(r)) {
				r = m
			}
		}
		v, err := c.VarianceAt(1<<k + r)
		if err != nil {
			return 0, err
		}
		worst = max(worst, v)
	}
	return worst, nil
}

// Counter continually releases one running count by the hybrid mechanism
// (see Continual). Consecutive releases share noisy terms, so their noises
// are correlated; each release reports its own (marginal) variance.
//
// The noise comes from Google's differential-privacy library (a
// cryptographic generator, secure against floating-point attacks). A
// Counter is not safe for concurrent use.
type Counter struct {
	c         Continual
	logNode   Mechanism
	epochNode func(k int) Mechanism
	t         int
	prev      float64
	// logSum and logVar are Σ β̂_j and its variance; pending the exact
	// increments since the last power of two.
	logSum, logVar, pending float64
	// The current epoch's binary tree: exact and noisy node sums by
	// level, and its node variance.
	exact, noisy []float64
	nodeVar      float64
	node         Mechanism
}

// NewCounter returns a counter for the continual release c describes.
func NewCounter(c Continual) (*Counter, error) {
	logNode, epochNode, err := c.nodes()
	if err != nil {
		return nil, err
	}
	return &Counter{c: c, logNode: logNode, epochNode: epochNode}, nil
}

// Releases returns how many releases the counter has made.
func (c *Counter) Releases() int { return c.t }

// Release releases the running count total (the stream's sum so far; the
// increment since the previous release is total minus the previous
// total). After Releases calls it returns ErrCounterExhausted.
func (c *Counter) Release(total float64) (Estimate, error) {
	if c.t >= c.c.Releases {
		return Estimate{}, ErrCounterExhausted
	}
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return Estimate{}, fmt.Errorf("aggregate: running count %v is not finite", total)
	}
	t := c.t + 1
	x := total - c.prev
	k, r := split(t)
	if r == 0 {
		// t = 2^k: release β_k and start epoch k's tree.
		beta := c.pending + x
		v, err := c.logNode.AddFloat64(beta)
		if err != nil {
			return Estimate{}, err
		}
		c.t, c.prev, c.pending = t, total, 0
		c.logSum += v
		c.logVar += c.logNode.Variance()
		c.exact, c.noisy = make([]float64, k), make([]float64, k)
		if k > 0 {
			c.node = c.epochNode(k)
			c.nodeVar = c.node.Variance()
		}
		return Estimate{Value: c.logSum, NoiseVariance: c.logVar}, nil
	}
	// Leaf r of epoch k's tree: complete the node at level i = tz(r).
	i := bits.TrailingZeros(uint(r))
	sum := x
	for j := range i {
		sum += c.exact[j]
		c.exact[j], c.noisy[j] = 0, 0
	}
	v, err := c.node.AddFloat64(sum)
	if err != nil {
		return Estimate{}, err
	}
	c.t, c.prev = t, total
	c.pending += x
	c.exact[i], c.noisy[i] = sum, v
	out := c.logSum
	for j := range c.noisy {
		if r&(1<<j) != 0 {
			out += c.noisy[j]
		}
	}
	return Estimate{Value: out, NoiseVariance: c.logVar + float64(bits.OnesCount(uint(r)))*c.nodeVar}, nil
}
