package mobility

import (
	"math"
	"sort"
)

// ZipfRanks is the last visitation rank of the Zipf fit, ZipfFirstRank its
// first.
const (
	ZipfFirstRank = 3
	ZipfRanks     = 20
)

// Laws accumulates, user by user, the statistics behind the published
// regularities of human mobility, measured on recorded visits as a study of
// the data set would:
//
//   - Zipf's law of visitation (Song et al. 2010): the k-th most visited
//     place gets a share f_k ∝ k^−ζ, ζ ≈ 1.2. Estimated as minus the
//     least-squares slope of log f̄_k on log k for k = ZipfFirstRank..
//     ZipfRanks, where f̄_k is the mean share over users with at least
//     ZipfRanks distinct places. The head (home and work) is left out: a
//     Zipf law from rank 1 with ζ = 1.2 over 20 or more places gives the top
//     two at most about 45% of stays, which contradicts the 60–70% below;
//     with stays recorded densely (not, as in call records, only when the
//     phone is used) the anchors stand above the line, so the fit is on the
//     ranks after them and the anchors are checked by the concentration
//     law.
//   - Growth of distinct places S(t) ∝ t^μ, μ ≈ 0.6. Estimated as the
//     least-squares slope of log S̄(t) on log t at whole days t = 1..D, S̄ the
//     mean over users of distinct places recorded by the end of day t.
//   - Concentration: the mean over users of the share of stays at their two
//     most visited places (60–70% in phone data; Song, Qu, Blumm, Barabási,
//     Science 2010, report similar regularity).
type Laws struct {
	days     int
	fsum     [ZipfRanks]float64
	fusers   int
	sSum     []float64
	users    int
	topTwo   float64
	visits   int
	distinct float64
	counts   map[int32]int
}

// NewLaws returns an empty accumulator for users simulated over weeks.
func NewLaws(weeks int) *Laws {
	return &Laws{days: 7 * weeks, sSum: make([]float64, 7*weeks), counts: make(map[int32]int)}
}

// Add accounts for one user's recorded visits.
func (l *Laws) Add(u *User) {
	if len(u.Visits) == 0 {
		return
	}
	clear(l.counts)
	vi := 0
	for d := 0; d < l.days; d++ {
		end := int64(d+1) * 24 * hour
		for ; vi < len(u.Visits) && u.Visits[vi].Arrive < end; vi++ {
			l.counts[u.Visits[vi].Place]++
		}
		l.sSum[d] += float64(len(l.counts))
	}
	for ; vi < len(u.Visits); vi++ {
		l.counts[u.Visits[vi].Place]++
	}
	ns := make([]int, 0, len(l.counts))
	for _, n := range l.counts {
		ns = append(ns, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ns)))
	total := float64(len(u.Visits))
	top := float64(ns[0])
	if len(ns) > 1 {
		top += float64(ns[1])
	}
	l.topTwo += top / total
	if len(ns) >= ZipfRanks {
		for k := 0; k < ZipfRanks; k++ {
			l.fsum[k] += float64(ns[k]) / total
		}
		l.fusers++
	}
	l.users++
	l.visits += len(u.Visits)
	l.distinct += float64(len(ns))
}

// Users is how many users with recorded visits were added.
func (l *Laws) Users() int { return l.users }

// Zipf returns the visitation exponent ζ and how many users it rests on.
func (l *Laws) Zipf() (zeta float64, users int) {
	if l.fusers == 0 {
		return math.NaN(), 0
	}
	var xs, ys []float64
	for k := ZipfFirstRank - 1; k < ZipfRanks; k++ {
		xs = append(xs, math.Log(float64(k+1)))
		ys = append(ys, math.Log(l.fsum[k]/float64(l.fusers)))
	}
	return -slope(xs, ys), l.fusers
}

// Growth returns the exponent μ of S(t) ∝ t^μ.
func (l *Laws) Growth() float64 {
	if l.users == 0 {
		return math.NaN()
	}
	var xs, ys []float64
	for d := 0; d < l.days; d++ {
		xs = append(xs, math.Log(float64(d+1)))
		ys = append(ys, math.Log(l.sSum[d]/float64(l.users)))
	}
	return slope(xs, ys)
}

// TopTwoShare is the mean share of a user's recorded stays at their two most
// visited places.
func (l *Laws) TopTwoShare() float64 { return l.topTwo / float64(l.users) }

// MeanVisits and MeanDistinct are per-user means of recorded visits and of
// distinct places.
func (l *Laws) MeanVisits() float64   { return float64(l.visits) / float64(l.users) }
func (l *Laws) MeanDistinct() float64 { return l.distinct / float64(l.users) }

// slope is the least-squares slope of ys on xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// RankShares returns f̄_k, k = 1..ZipfRanks, over users with at least
// ZipfRanks distinct places.
func (l *Laws) RankShares() []float64 {
	out := make([]float64, ZipfRanks)
	for k := range out {
		out[k] = l.fsum[k] / float64(max(l.fusers, 1))
	}
	return out
}
