package eval

import (
	"math/rand/v2"
	"testing"
)

// pairedSample draws n examples on which the candidate is right with
// probability 0.7 and the baseline with 0.6, correlated through a shared
// draw half the time; the true difference of Acc@1 is 0.1.
func pairedSample(rng *rand.Rand, n int) (cand, base Values) {
	cand = Values{Arity: 1, X: make([]float64, n)}
	base = Values{Arity: 1, X: make([]float64, n)}
	for i := range n {
		u1, u2 := rng.Float64(), rng.Float64()
		if u1 < 0.7 {
			cand.X[i] = 1
		}
		ub := u2
		if rng.IntN(2) == 0 {
			ub = u1
		}
		if ub < 0.6 {
			base.X[i] = 1
		}
	}
	return cand, base
}

// TestBootstrapCoverage checks that the 95% paired percentile interval of
// the difference covers the true difference in about 95% of repeated
// experiments, and the candidate's own interval its true value.
func TestBootstrapCoverage(t *testing.T) {
	const reps, n = 400, 300
	rng := rand.New(rand.NewPCG(7, 11))
	metrics := []Metric{accAt{k: 1}}
	coverDiff, coverCand := 0, 0
	for r := range reps {
		cand, base := pairedSample(rng, n)
		b := Bootstrap{Replicates: 400, Seed: uint64(r)}
		est := b.Run("all", metrics, []Values{cand}, []Values{base}, All(n).Index)[0]
		if est.DiffCI.Contains(0.1) {
			coverDiff++
		}
		if est.CandidateCI.Contains(0.7) {
			coverCand++
		}
	}
	for name, c := range map[string]int{"difference": coverDiff, "candidate": coverCand} {
		rate := float64(c) / reps
		t.Logf("%s interval coverage %.3f", name, rate)
		if rate < 0.895 || rate > 0.99 {
			t.Errorf("%s interval covers the truth in %.3f of %d experiments, want ≈ 0.95", name, rate, reps)
		}
	}
}

// TestBootstrapPairing checks that the paired interval of the difference
// is narrower than the candidate's own when the models agree on most
// examples, and that the same seed gives the same interval.
func TestBootstrapPairing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 500
	cand := Values{Arity: 1, X: make([]float64, n)}
	base := Values{Arity: 1, X: make([]float64, n)}
	for i := range n {
		if rng.Float64() < 0.5 {
			cand.X[i], base.X[i] = 1, 1
		}
		if i%50 == 0 {
			cand.X[i] = 1
		}
	}
	b := Bootstrap{Replicates: 500, Seed: 9}
	idx := All(n).Index
	e1 := b.Run("all", []Metric{accAt{k: 1}}, []Values{cand}, []Values{base}, idx)[0]
	e2 := b.Run("all", []Metric{accAt{k: 1}}, []Values{cand}, []Values{base}, idx)[0]
	if e1.DiffCI.Lo != e2.DiffCI.Lo || e1.CandidateCI.Hi != e2.CandidateCI.Hi {
		t.Fatal("the same seed gave different intervals")
	}
	dw := float64(e1.DiffCI.Hi - e1.DiffCI.Lo)
	cw := float64(e1.CandidateCI.Hi - e1.CandidateCI.Lo)
	if dw >= cw/2 {
		t.Errorf("paired difference interval width %.4f not much narrower than the candidate's %.4f", dw, cw)
	}
	if float64(e1.DiffCI.Lo) <= 0 {
		t.Errorf("the candidate is better on a few examples and never worse, yet the interval %v reaches 0", e1.DiffCI)
	}
}
