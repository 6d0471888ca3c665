package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/sextant-ml/sextant/dataset"
)

// Predictability is the upper bound of Song, Qu, Blumm and Barabási
// (2010), "Limits of predictability in human mobility", Science
// 327:1018–1021: from a sequence's entropy rate S (estimated by
// Lempel-Ziv) and its number of distinct places N, Fano's inequality gives
// the highest accuracy Π_max any predictor can reach on it, the Π solving
//
//	S = H(Π) + (1 − Π)·log₂(N − 1),  H(Π) = −Π·log₂Π − (1 − Π)·log₂(1 − Π).
type Predictability struct {
	User     int64   `json:"user"`
	Length   int     `json:"length"`   // symbols in the sequence
	Distinct int     `json:"distinct"` // N
	Entropy  Num     `json:"entropy"`  // S, bits per symbol
	PiMax    Num     `json:"pi_max"`
	Acc1     *Num    `json:"acc@1,omitempty"` // the model's accuracy on the same examples, when known
	Clamped  bool    `json:"clamped,omitempty"`
	idx      []int   // the user's examples
	seq      []int64 // the sequence
	hits     float64 // the model's top-1 hits on them, when scored
}

// LZEntropy is the Lempel-Ziv estimate of the entropy rate of seq in bits
// per symbol (Kontoyiannis, Algoet, Suhov and Wyner 1998, the estimator of
// Song et al. 2010's supplement):
//
//	S = n·log₂(n) / Σᵢ Λᵢ
//
// where Λᵢ is the length of the shortest substring starting at i that does
// not occur as a contiguous substring of seq[0:i]; when every substring
// starting at i occurs before, Λᵢ = n − i + 1 (as if the sequence had one
// more, new, symbol). A sequence of fewer than two symbols has entropy 0.
func LZEntropy(seq []int64) float64 {
	n := len(seq)
	if n < 2 {
		return 0
	}
	var sum float64
	for i := 0; i < n; i++ {
		sum += float64(lambda(seq, i))
	}
	return float64(n) * math.Log2(float64(n)) / sum
}

// lambda is Λᵢ of LZEntropy.
func lambda(seq []int64, i int) int {
	n := len(seq)
	for k := 1; i+k <= n; k++ {
		if !occursBefore(seq, i, k) {
			return k
		}
	}
	return n - i + 1
}

// occursBefore reports whether seq[i:i+k] occurs inside seq[0:i].
func occursBefore(seq []int64, i, k int) bool {
	for s := 0; s+k <= i; s++ {
		match := true
		for j := 0; j < k; j++ {
			if seq[s+j] != seq[i+j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// MaxPredictability solves Fano's equation for Π_max given the entropy
// rate s (bits) and the number of distinct symbols n, by bisection on
// [1/n, 1], where its right-hand side falls from log₂n to 0. A single
// place gives 1; an entropy at or above log₂n (no structure the estimate
// can see) gives 1/n with clamped set.
func MaxPredictability(s float64, n int) (pi float64, clamped bool) {
	if n <= 1 {
		return 1, false
	}
	if s <= 0 {
		return 1, false
	}
	if s >= math.Log2(float64(n)) {
		return 1 / float64(n), true
	}
	f := func(p float64) float64 {
		h := 0.0
		if p > 0 && p < 1 {
			h = -p*math.Log2(p) - (1-p)*math.Log2(1-p)
		}
		return h + (1-p)*math.Log2(float64(n-1)) - s
	}
	lo, hi := 1/float64(n), 1.0
	for range 100 {
		mid := (lo + hi) / 2
		if f(mid) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2, false
}

// UserPredictability computes Π_max per user on exactly the examples of
// d: the sequence of each user is the seq column (e.g. the next place's
// id) of that user's rows, in data order. Users are in order of first
// appearance.
func UserPredictability(d *dataset.Dataset, userCol, seqCol string) ([]Predictability, error) {
	uc, ok := d.Column(userCol)
	if !ok {
		return nil, fmt.Errorf("eval: predictability: no user column %q (columns: %v)", userCol, d.Columns())
	}
	sc, ok := d.Column(seqCol)
	if !ok {
		return nil, fmt.Errorf("eval: predictability: no sequence column %q (columns: %v)", seqCol, d.Columns())
	}
	users, err := Floats(uc)
	if err != nil {
		return nil, err
	}
	seq, err := Floats(sc)
	if err != nil {
		return nil, err
	}
	if dataset.Width(uc) != 1 || dataset.Width(sc) != 1 {
		return nil, errors.New("eval: predictability: the user and sequence columns must hold one value per example")
	}
	var out []Predictability
	at := map[int64]int{}
	for i := 0; i < d.N; i++ {
		u := int64(users[i])
		j, ok := at[u]
		if !ok {
			j = len(out)
			at[u] = j
			out = append(out, Predictability{User: u})
		}
		out[j].idx = append(out[j].idx, i)
		out[j].seq = append(out[j].seq, int64(seq[i]))
	}
	for j := range out {
		out[j].bound()
	}
	return out, nil
}

// bound computes the user's Length, Distinct, Entropy and PiMax from its
// sequence.
func (p *Predictability) bound() {
	distinct := map[int64]bool{}
	for _, s := range p.seq {
		distinct[s] = true
	}
	p.Length, p.Distinct = len(p.seq), len(distinct)
	s := LZEntropy(p.seq)
	pi, clamped := MaxPredictability(s, p.Distinct)
	p.Entropy, p.PiMax, p.Clamped = Num(s), Num(pi), clamped
}

// PredictabilitySummary compares a model's accuracy with the users'
// predictability, each user weighted equally (Song et al.'s means are over
// users).
type PredictabilitySummary struct {
	Users       int `json:"users"`
	Examples    int `json:"examples"`
	Clamped     int `json:"clamped"`
	MeanPiMax   Num `json:"mean_pi_max"`
	MedianPi    Num `json:"median_pi_max"`
	MeanEntropy Num `json:"mean_entropy"`
	// MeanAcc1 is the mean over users of the model's per-user Acc@1
	// (present with a model); Ratio is MeanAcc1 / MeanPiMax.
	MeanAcc1 *Num `json:"mean_acc@1,omitempty"`
	Ratio    *Num `json:"acc_over_pi_max,omitempty"`
	// PerUser is the per-user column.
	PerUser []Predictability `json:"per_user"`
}

// Summarize averages per-user predictability and, when hit is not nil
// (hit[i] is 1 when the model's top-ranked candidate was right on example
// i), the per-user Acc@1.
func Summarize(per []Predictability, hit []float64) PredictabilitySummary {
	if hit != nil {
		for j := range per {
			p := &per[j]
			p.hits = 0
			for _, i := range p.idx {
				p.hits += hit[i]
			}
		}
	}
	return summarize(per, hit != nil)
}

// summarize is Summarize with each user's hits counted (when scored).
func summarize(per []Predictability, scored bool) PredictabilitySummary {
	s := PredictabilitySummary{Users: len(per), PerUser: per}
	if len(per) == 0 {
		return s
	}
	pis := make([]float64, len(per))
	var sumPi, sumS, sumAcc float64
	for j := range per {
		p := &per[j]
		s.Examples += p.Length
		if p.Clamped {
			s.Clamped++
		}
		pis[j] = float64(p.PiMax)
		sumPi += float64(p.PiMax)
		sumS += float64(p.Entropy)
		if scored {
			a := Num(p.hits / float64(p.Length))
			p.Acc1 = &a
			sumAcc += float64(a)
		}
	}
	sort.Float64s(pis)
	n := float64(len(per))
	s.MeanPiMax, s.MeanEntropy = Num(sumPi/n), Num(sumS/n)
	s.MedianPi = Num(pis[len(pis)/2])
	if len(pis)%2 == 0 {
		s.MedianPi = Num((pis[len(pis)/2-1] + pis[len(pis)/2]) / 2)
	}
	if scored {
		acc, ratio := Num(sumAcc/n), Num(sumAcc/n/(sumPi/n))
		s.MeanAcc1, s.Ratio = &acc, &ratio
	}
	return s
}

// TopOneHits runs p over d and returns, per example, 1 when its
// highest-scoring candidate (the lowest index among ties, as Outputs
// breaks them) is the label, else 0.
func TopOneHits(ctx context.Context, p Predictor, d *dataset.Dataset, labels string, batch int) ([]float64, error) {
	lab, err := Labels(d, labels)
	if err != nil {
		return nil, err
	}
	s, err := PredictAll(ctx, p, d, batch)
	if err != nil {
		return nil, err
	}
	return topOneHits(s, lab), nil
}

// topOneHits is, per example of s, 1 when its highest-scoring candidate
// (the lowest index among ties) is the label, else 0.
func topOneHits(s Scores, lab []float64) []float64 {
	hit := make([]float64, len(lab))
	for i := range hit {
		row := s.Row(i)
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		if float64(best) == lab[i] {
			hit[i] = 1
		}
	}
	return hit
}
