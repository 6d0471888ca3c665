package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/google/differential-privacy/go/v3/dpagg"
)

// QuantileParams shape the library's quantile tree; zero values take the
// library's defaults (height 4, branching factor 16).
type QuantileParams struct {
	TreeHeight, BranchingFactor int
}

// QuantileEstimate is one partition's quantiles.
type QuantileEstimate struct {
	Ranks, Values []float64
	// NodeVariance is the variance of the noise on each count of the
	// library's quantile tree: l0 = height·MaxPartitionsContributed,
	// l∞ = MaxContributionsPerPartition.
	NodeVariance float64

	bq             *dpagg.BoundedQuantiles
	lower, upper   float64
	height, branch int
}

// Quantiles releases, for each partition, the quantiles of the values
// clamped to [lower, upper] at the given ranks (each in [0, 1]; the library
// clamps them to [0.005, 0.995]) through the library's BoundedQuantiles.
func Quantiles(records []Record, partitions []string, lower, upper float64, ranks []float64, qp QuantileParams, p Params, r *rand.Rand) (map[string]*QuantileEstimate, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if err := checkBounds(lower, upper); err != nil {
		return nil, err
	}
	if qp.TreeHeight == 0 {
		qp.TreeHeight = dpagg.DefaultTreeHeight
	}
	if qp.BranchingFactor == 0 {
		qp.BranchingFactor = dpagg.DefaultBranchingFactor
	}
	b, err := Bound(records, partitions, p.MaxPartitionsContributed, p.MaxContributionsPerPartition, r)
	if err != nil {
		return nil, err
	}
	return quantilesBounded(b, lower, upper, ranks, qp, p)
}

func quantilesBounded(b Bounded, lower, upper float64, ranks []float64, qp QuantileParams, p Params) (map[string]*QuantileEstimate, error) {
	nodeVar := Mechanism{Noise: p.Noise, Epsilon: p.Epsilon, Delta: p.Delta,
		L0: int64(qp.TreeHeight) * p.MaxPartitionsContributed, LInf: float64(p.MaxContributionsPerPartition)}.Variance()
	out := make(map[string]*QuantileEstimate, len(b))
	for part, units := range b {
		bq, err := dpagg.NewBoundedQuantiles(&dpagg.BoundedQuantilesOptions{Epsilon: p.Epsilon, Delta: p.Delta,
			MaxPartitionsContributed: p.MaxPartitionsContributed, MaxContributionsPerPartition: p.MaxContributionsPerPartition,
			Lower: lower, Upper: upper, Noise: p.Noise.lib(), TreeHeight: qp.TreeHeight, BranchingFactor: qp.BranchingFactor})
		if err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
		for _, u := range units {
			for _, v := range u.Values {
				if err := bq.Add(v); err != nil {
					return nil, fmt.Errorf("aggregate: %w", err)
				}
			}
		}
		q := &QuantileEstimate{Ranks: append([]float64(nil), ranks...), NodeVariance: nodeVar, bq: bq,
			lower: lower, upper: upper, height: qp.TreeHeight, branch: qp.BranchingFactor}
		for _, rk := range ranks {
			v, err := bq.Result(rk)
			if err != nil {
				return nil, fmt.Errorf("aggregate: %w", err)
			}
			q.Values = append(q.Values, v)
		}
		out[part] = q
	}
	return out, nil
}

// cdf inverts the released quantile function: the largest rank whose
// quantile does not exceed y (post-processing of the noisy tree).
func (q *QuantileEstimate) cdf(y float64) float64 {
	lo, hi := 0.0, 1.0
	for range 50 {
		m := (lo + hi) / 2
		v, err := q.bq.Result(m)
		if err != nil {
			return math.NaN()
		}
		if v <= y {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// Variance is the first-order variance of Values[i] due to the noise, given
// the number n of contributions in the partition (from a DP count; the tree
// does not release it).
//
// Derivation: the library descends the tree choosing, at each level ℓ, the
// child where the noisy cumulative count of the children, normalized by
// their noisy total T, reaches the rank. Writing G for the mass fraction of
// the parent left of the answer x, i for the index of x's child and r' for
// x's mass fraction within that child, the children's noises η_j shift G by
// Σ_j a_j η_j / T with a_j = 1-G (j < i), r'-G (j = i), -G (j > i), which in
// the whole partition's CDF is Σ_j a_j η_j / n. The answer moves by that
// shift divided by the estimated density f̂(x), so
//
//	Var x̂ ≈ NodeVariance · Σ_ℓ [ i(1-G)² + (r'-G)² + (B-1-i)G² ] / (n·f̂(x))².
//
// G, r' and f̂ are read from the released quantile function itself. The
// approximation holds while the noisy counts along the path are large
// compared with their noise; the result is capped at ((upper-lower)/2)².
func (q *QuantileEstimate) Variance(i int, n float64) float64 {
	if i < 0 || i >= len(q.Values) || !(n > 0) {
		return math.NaN()
	}
	x := q.Values[i]
	fx := q.cdf(x)
	B := float64(q.branch)
	span := q.upper - q.lower
	total := 0.0
	var leafMass, leafWidth float64
	for l := 1; l <= q.height; l++ {
		w := span / math.Pow(B, float64(l)) // child width
		W := w * B                          // parent width
		pi := math.Min(math.Floor((x-q.lower)/W), math.Pow(B, float64(l-1))-1)
		a := q.lower + pi*W
		ci := math.Min(math.Max(math.Floor((x-a)/w), 0), B-1)
		c := a + ci*w
		fa, fb := q.cdf(a), q.cdf(a+W)
		fc, fd := q.cdf(c), q.cdf(c+w)
		mp, mc := fb-fa, fd-fc
		if !(mp > 0) || !(mc > 0) {
			continue
		}
		G := (fx - fa) / mp
		rp := (fx - fc) / mc
		total += ci*(1-G)*(1-G) + (rp-G)*(rp-G) + (B-1-ci)*G*G
		leafMass, leafWidth = mc, w
	}
	limit := span * span / 4
	if !(leafMass > 0) {
		return limit
	}
	nf := n * leafMass / leafWidth
	return math.Min(q.NodeVariance*total/(nf*nf), limit)
}
