package secagg

import (
	"fmt"
	"math"
)

// Assumptions are what a SecAgg+ degree is derived for (Degree).
type Assumptions struct {
	// Dropout δ: the probability that a client of the graph (one that
	// advertised keys) does not answer step 4, independently of the others
	// and of the labelling.
	Dropout float64
	// Colluding γ: the fraction of the round's clients that collude with
	// the server, chosen before the random labelling is drawn.
	Colluding float64
	// Security σ: the server learns more than the sum (some client's input
	// or the sum of a part of the survivors) with probability at most
	// 2^-σ over the labelling.
	Security float64
	// Liveness η: a round fails for want of shares (some client has fewer
	// than t neighbours left in step 4) with probability at most 2^-η. A
	// failed round is retried; it reveals nothing.
	Liveness float64
}

// DefaultAssumptions are the assumptions DefaultDegree derives k for: 5%
// dropout (the bar; Bonawitz et al. 2019 report 6–10% in
// production, for which see Degree), 2% colluding clients, σ = 40 and
// η = 20 (a round fails for want of shares about once in a million).
var DefaultAssumptions = Assumptions{Dropout: 0.05, Colluding: 0.02, Security: 40, Liveness: 20}

// Validate checks that the assumptions are probabilities and positive
// exponents.
func (a Assumptions) Validate() error {
	if !(a.Dropout >= 0 && a.Colluding >= 0 && a.Dropout+a.Colluding < 1) {
		return fmt.Errorf("secagg: dropout %v and colluding %v must be ≥ 0 with sum < 1", a.Dropout, a.Colluding)
	}
	if !(a.Security > 0 && a.Liveness > 0) {
		return fmt.Errorf("secagg: security %v and liveness %v must be positive", a.Security, a.Liveness)
	}
	return nil
}

// DegreeBounds are log2 of the three failure probabilities Degree bounds,
// for n clients, degree k and threshold t = k/2 + 1.
type DegreeBounds struct {
	// Secrecy: some client has at least t colluding neighbours, so the
	// server could rebuild the secret the protocol withholds:
	// n · C(k, t) · p^t, p = γn/(n−1) (t given neighbours all colluding has
	// probability at most p^t, the colluders being drawn without
	// replacement).
	Secrecy float64
	// Split: the survivors that do not collude fall apart into two or more
	// parts of the graph, whose sums the server would learn separately.
	// On the ring of H(k, n) that needs two disjoint runs of k/2
	// consecutive clients that dropped or collude:
	// C(n, 2) · (δ + p)^k.
	Split float64
	// Liveness: some client has fewer than t neighbours that answer step 4
	// (its self mask, or its mask key if it dropped, cannot be rebuilt):
	// n · P[Binomial(k, δ) ≥ k − t + 1].
	Liveness float64
}

// Bounds returns the failure bounds of degree k (even, < n−1) for n
// clients under a.
func (a Assumptions) Bounds(n, k int) DegreeBounds {
	t := k/2 + 1
	p := a.Colluding * float64(n) / float64(n-1)
	ln2 := math.Ln2
	var b DegreeBounds
	b.Secrecy = math.Log2(float64(n)) + (lnChoose(k, t)+float64(t)*math.Log(p))/ln2
	b.Split = math.Log2(float64(n)*float64(n-1)/2) + float64(k)*math.Log2(a.Dropout+p)
	b.Liveness = math.Log2(float64(n)) + lnBinomialTail(k, a.Dropout, k-t+1)/ln2
	return b
}

// Degree returns the SecAgg+ degree k for n clients: the least even k with
// the majority threshold t = k/2 + 1 (DefaultThreshold) whose
// Bounds(n, k) are all within a — Secrecy and Split ≤ −σ, Liveness ≤ −η —
// or 0 (the complete graph) when no k < n − 1 is.
//
// The bounds are union bounds for the Harary graph H(k, n) on a uniformly
// random labelling that Graph builds. Bell et al. 2020 (their §3 analysis and
// parameter tables) derive k for their random graph with the same three
// conditions — fewer than t corrupt neighbours, an honest survivor graph
// that stays connected, at least t surviving neighbours — and find
// k = O(log n); these are the same conditions evaluated for the ring. The
// dropout enters only Split and Liveness: if more clients drop than δ
// assumes, rounds fail (and are retried) more often, while secrecy is
// governed by γ. Under DefaultAssumptions: k = 22 for 100 clients, 24 for
// 500–1,000, 26 for 5,000; with 10% dropout, 34, 36, 38 and 40.
func Degree(n int, a Assumptions) int {
	if n < 4 || a.Validate() != nil {
		return 0
	}
	for k := 2; k < n-1; k += 2 {
		b := a.Bounds(n, k)
		if b.Secrecy <= -a.Security && b.Split <= -a.Security && b.Liveness <= -a.Liveness {
			return k
		}
	}
	return 0
}

// lnChoose is ln C(n, k).
func lnChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// lnBinomialTail is ln P[Binomial(n, p) ≥ m], summed term by term in the
// log domain (−Inf when the probability is 0).
func lnBinomialTail(n int, p float64, m int) float64 {
	if m <= 0 {
		return 0
	}
	if m > n || p <= 0 {
		return math.Inf(-1)
	}
	if p >= 1 {
		return 0
	}
	lp, lq := math.Log(p), math.Log1p(-p)
	top := math.Inf(-1)
	terms := make([]float64, 0, n-m+1)
	for i := m; i <= n; i++ {
		x := lnChoose(n, i) + float64(i)*lp + float64(n-i)*lq
		terms = append(terms, x)
		top = max(top, x)
	}
	var s float64
	for _, x := range terms {
		s += math.Exp(x - top)
	}
	return top + math.Log(s)
}
