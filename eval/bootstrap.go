package eval

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// Bootstrap configures the paired percentile bootstrap (Efron &
// Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13 for the
// percentile interval and §14–15 on paired comparisons).
//
// For a slice of n examples, each of B replicates draws n examples with
// replacement, uniformly, and computes every metric for the candidate and
// the baseline on that same draw — so the difference's interval reflects
// the models' correlation on shared examples — and the difference
// candidate − baseline. The interval at confidence 1−α is the α/2 and
// 1−α/2 quantiles (Quantile's definition 7) of the B replicate values.
// Replicates where a metric is undefined (NaN, e.g. MAPE on a draw of only
// zero labels) are left out of its quantiles.
//
// The random stream is PCG seeded by Seed and a hash of the slice's key, so
// a slice's interval does not depend on which other slices are evaluated.
type Bootstrap struct {
	// Replicates is B; 0 means DefaultReplicates.
	Replicates int `json:"replicates"`
	// Confidence is 1−α; 0 means 0.95.
	Confidence float64 `json:"confidence"`
	// Seed seeds the resampling.
	Seed uint64 `json:"seed"`
}

// DefaultReplicates is B when unset: Efron & Tibshirani (§13.3, §19.3)
// advise about 1000 replicates for percentile intervals.
const DefaultReplicates = 1000

func (b Bootstrap) withDefaults() Bootstrap {
	if b.Replicates <= 0 {
		b.Replicates = DefaultReplicates
	}
	if b.Confidence <= 0 || b.Confidence >= 1 {
		b.Confidence = 0.95
	}
	return b
}

// Interval is a confidence interval; its ends are null in JSON when
// undefined.
type Interval struct {
	Lo Num `json:"lo"`
	Hi Num `json:"hi"`
}

// Contains reports whether x lies in [Lo, Hi].
func (iv Interval) Contains(x float64) bool { return float64(iv.Lo) <= x && x <= float64(iv.Hi) }

// Estimate is one metric on one slice.
type Estimate struct {
	Candidate   Num      `json:"candidate"`
	CandidateCI Interval `json:"candidate_ci"`
	// The baseline's value, its interval and the paired difference
	// candidate − baseline; absent without a baseline.
	Baseline   *Num      `json:"baseline,omitempty"`
	BaselineCI *Interval `json:"baseline_ci,omitempty"`
	Diff       *Num      `json:"diff,omitempty"`
	DiffCI     *Interval `json:"diff_ci,omitempty"`
}

// Run computes the estimates of metrics on the examples idx. cand[j] and
// base[j] are metric j's per-example values for the two models; base is nil
// without a baseline.
func (b Bootstrap) Run(key string, metrics []Metric, cand, base []Values, idx []int) []Estimate {
	b = b.withDefaults()
	nm := len(metrics)
	scratch := make([]float64, max(len(idx), 3*256))
	out := make([]Estimate, nm)
	candReps := make([][]float64, nm)
	baseReps := make([][]float64, nm)
	diffReps := make([][]float64, nm)
	for j, m := range metrics {
		out[j].Candidate = Num(m.Aggregate(cand[j], idx, scratch))
		if base != nil {
			bv := Num(m.Aggregate(base[j], idx, scratch))
			d := out[j].Candidate - bv
			out[j].Baseline, out[j].Diff = &bv, &d
		}
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	rng := rand.New(rand.NewPCG(b.Seed, h.Sum64()))
	draw := make([]int, len(idx))
	for range b.Replicates {
		if len(idx) == 0 {
			break
		}
		for i := range draw {
			draw[i] = idx[rng.IntN(len(idx))]
		}
		for j, m := range metrics {
			c := m.Aggregate(cand[j], draw, scratch)
			candReps[j] = appendFinite(candReps[j], c)
			if base != nil {
				bv := m.Aggregate(base[j], draw, scratch)
				baseReps[j] = appendFinite(baseReps[j], bv)
				diffReps[j] = appendFinite(diffReps[j], c-bv)
			}
		}
	}
	alpha := 1 - b.Confidence
	for j := range metrics {
		out[j].CandidateCI = percentile(candReps[j], alpha)
		if base != nil {
			bi, di := percentile(baseReps[j], alpha), percentile(diffReps[j], alpha)
			out[j].BaselineCI, out[j].DiffCI = &bi, &di
		}
	}
	return out
}

func appendFinite(xs []float64, x float64) []float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return xs
	}
	return append(xs, x)
}

// percentile is the percentile interval of the replicates reps.
func percentile(reps []float64, alpha float64) Interval {
	if len(reps) == 0 {
		return Interval{Lo: Num(math.NaN()), Hi: Num(math.NaN())}
	}
	lo := Quantile(reps, alpha/2)
	hi := Quantile(reps, 1-alpha/2)
	return Interval{Lo: Num(lo), Hi: Num(hi)}
}
