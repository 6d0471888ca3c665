package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// moments returns the sample variance and kurtosis of x.
func moments(x []float64) (variance, kurtosis float64) {
	n := float64(len(x))
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= n
	var m2, m4 float64
	for _, v := range x {
		d := (v - m) * (v - m)
		m2 += d
		m4 += d * d
	}
	m2 /= n
	m4 /= n
	return m2 * n / (n - 1), m4 / (m2 * m2)
}

// varianceTolerance is five standard errors of a sample variance over K
// draws with kurtosis κ, relative: 5·√((κ-1)/K).
func varianceTolerance(kurtosis float64, k int) float64 {
	return 5 * math.Sqrt((kurtosis-1)/float64(k))
}

func checkVariance(t *testing.T, name string, samples []float64, want float64) {
	t.Helper()
	got, kurt := moments(samples)
	tol := varianceTolerance(kurt, len(samples))
	if rel := got/want - 1; math.Abs(rel) > tol {
		t.Errorf("%s: empirical variance %.6g, reported %.6g (relative %+.4f, tolerance ±%.4f)", name, got, want, rel, tol)
	} else {
		t.Logf("%s: empirical variance %.6g, reported %.6g (relative %+.4f, tolerance ±%.4f)", name, got, want, rel, tol)
	}
}

func TestMechanismVarianceMatchesLibrary(t *testing.T) {
	const k = 20000
	cases := []struct {
		m     Mechanism
		isInt bool
		// naive is the textbook variance (2b² or σ²); where rounding makes it
		// wrong the test also asserts the empirical variance rejects it.
		naive       float64
		naiveWrong  bool
		description string
	}{
		{Mechanism{Noise: Laplace, Epsilon: 0.5, L0: 2, LInf: 3}, false, 2 * 12 * 12, false, "laplace float b=12"},
		{Mechanism{Noise: Gaussian, Epsilon: 1, Delta: 1e-5, L0: 3, LInf: 2}, false, 0, false, "gaussian float"},
		{Mechanism{Noise: Laplace, Epsilon: 4, L0: 1, LInf: 1}, true, 2 * 0.25 * 0.25, true, "laplace int b=0.25"},
		{Mechanism{Noise: Laplace, Epsilon: 1, L0: 2, LInf: 2}, true, 2 * 16, false, "laplace int b=4"},
		{Mechanism{Noise: Gaussian, Epsilon: 8, Delta: 1e-3, L0: 1, LInf: 1}, true, 0, true, "gaussian int small sigma"},
	}
	for _, c := range cases {
		if err := c.m.Check(); err != nil {
			t.Fatal(err)
		}
		x := make([]float64, k)
		for i := range x {
			if c.isInt {
				v, err := c.m.AddInt64(10)
				if err != nil {
					t.Fatal(err)
				}
				x[i] = float64(v)
			} else {
				v, err := c.m.AddFloat64(10)
				if err != nil {
					t.Fatal(err)
				}
				x[i] = v
			}
		}
		want := c.m.Variance()
		if c.isInt {
			want = c.m.IntVariance()
		}
		checkVariance(t, c.description, x, want)
		if c.naive == 0 {
			c.naive = c.m.Sigma() * c.m.Sigma()
		}
		if c.naiveWrong {
			got, kurt := moments(x)
			if math.Abs(got/c.naive-1) <= varianceTolerance(kurt, k) {
				t.Errorf("%s: the textbook variance %.4g is not distinguishable from the empirical %.4g; the case tests nothing", c.description, c.naive, got)
			}
		}
	}
}

// TestSigmaIsTheLibrarys checks σ against the library's calibration: the
// Gaussian mechanism with that σ meets (ε, δ) by Balle and Wang's exact
// δ(σ) (their Thm. 8), and 1% less noise does not.
func TestSigmaIsTheLibrarys(t *testing.T) {
	m := Mechanism{Noise: Gaussian, Epsilon: 1, Delta: 1e-5, L0: 4, LInf: 1.5}
	s := m.Sigma()
	l2 := 1.5 * 2.0
	phi := func(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
	delta := func(sig float64) float64 {
		return phi(l2/(2*sig)-m.Epsilon*sig/l2) - math.Exp(m.Epsilon)*phi(-l2/(2*sig)-m.Epsilon*sig/l2)
	}
	if d := delta(s); d > m.Delta {
		t.Errorf("σ = %v gives δ = %v > %v", s, d, m.Delta)
	}
	if d := delta(0.99 * s); d <= m.Delta {
		t.Errorf("0.99σ still gives δ = %v ≤ %v: σ %v is not tight", d, m.Delta, s)
	}
}

// records builds units that each contribute exactly one value (value(i)) to
// each of the given partitions, within any bounds ≥ 1.
func records(units int, parts []string, value func(i int) float64) []Record {
	var out []Record
	for i := 0; i < units; i++ {
		for _, p := range parts {
			out = append(out, Record{Unit: fmt.Sprint("device-", i), Partition: p, Value: value(i)})
		}
	}
	return out
}

func TestCountSumVariance(t *testing.T) {
	const runs = 20000
	parts := []string{"v1", "v2"}
	recs := records(50, parts, func(i int) float64 { return float64(i) + 0.5 })
	r := rand.New(rand.NewPCG(1, 2))
	for _, noise := range []Noise{Laplace, Gaussian} {
		p := Params{Noise: noise, Epsilon: 1, MaxPartitionsContributed: 2, MaxContributionsPerPartition: 3}
		if noise == Gaussian {
			p.Delta = 1e-6
		}
		counts, sums := make([]float64, runs), make([]float64, runs)
		var countVar, sumVar float64
		for i := 0; i < runs; i++ {
			c, err := Count(recs, parts, p, r)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Sum(recs, parts, 0, 100, p, r)
			if err != nil {
				t.Fatal(err)
			}
			counts[i], sums[i] = c["v1"].Value, s["v1"].Value
			countVar, sumVar = c["v1"].NoiseVariance, s["v1"].NoiseVariance
		}
		checkVariance(t, noise.String()+" count", counts, countVar)
		checkVariance(t, noise.String()+" sum", sums, sumVar)
		// Unbiased count and sum.
		mc, ms := 0.0, 0.0
		for i := range counts {
			mc += counts[i] / runs
			ms += sums[i] / runs
		}
		if math.Abs(mc-50) > 5*math.Sqrt(countVar/runs) {
			t.Errorf("%v: mean count %v, want 50", noise, mc)
		}
		if math.Abs(ms-1250) > 5*math.Sqrt(sumVar/runs) {
			t.Errorf("%v: mean sum %v, want 1250", noise, ms)
		}
	}
}

// TestMeanVariance: the first-order variance, averaged over runs, against
// the empirical variance at a count (4000) where second-order terms are
// below 0.1%.
func TestMeanVariance(t *testing.T) {
	const runs = 20000
	recs := records(4000, []string{"v1"}, func(i int) float64 { return float64(i%50) + 0.5 })
	for _, noise := range []Noise{Laplace, Gaussian} {
		p := Params{Noise: noise, Epsilon: 1, MaxPartitionsContributed: 2, MaxContributionsPerPartition: 3}
		if noise == Gaussian {
			p.Delta = 1e-6
		}
		b, err := Bound(recs, []string{"v1"}, 2, 3, rand.New(rand.NewPCG(5, 6)))
		if err != nil {
			t.Fatal(err)
		}
		means := make([]float64, runs)
		reported := 0.0
		for i := range means {
			m, err := meanBounded(b, 0, 100, p)
			if err != nil {
				t.Fatal(err)
			}
			means[i] = m["v1"].Value
			reported += m["v1"].NoiseVariance / runs
		}
		checkVariance(t, noise.String()+" mean", means, reported)
	}
}

func TestQuantileVariance(t *testing.T) {
	const (
		n    = 20000
		runs = 600
	)
	// Uniform data on [0, 1000]: one value per device.
	recs := records(n, []string{"p"}, func(i int) float64 { return (float64(i) + 0.5) * 1000 / n })
	ranks := []float64{0.5, 0.9}
	p := Params{Noise: Laplace, Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 1}
	qp := QuantileParams{TreeHeight: 2, BranchingFactor: 16}
	b, err := Bound(recs, []string{"p"}, 1, 1, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	vals := make([][]float64, len(ranks))
	reported := make([]float64, len(ranks))
	for run := 0; run < runs; run++ {
		q, err := quantilesBounded(b, 0, 1000, ranks, qp, p)
		if err != nil {
			t.Fatal(err)
		}
		e := q["p"]
		if math.Abs(e.NodeVariance/8-1) > 1e-9 {
			t.Fatalf("node variance %v, want 2b² = 8 (b = height/ε = 2)", e.NodeVariance)
		}
		for i := range ranks {
			vals[i] = append(vals[i], e.Values[i])
			reported[i] += e.Variance(i, n) / runs
		}
	}
	for i, rk := range ranks {
		got, _ := moments(vals[i])
		mean := 0.0
		for _, v := range vals[i] {
			mean += v / runs
		}
		if math.Abs(mean-1000*rk) > 3 {
			t.Errorf("rank %v: mean quantile %v, want %v", rk, mean, 1000*rk)
		}
		// Stated tolerance ±25%: the delta method plus 5 standard errors of
		// a variance over 600 runs (≈ 6% each).
		if rel := got/reported[i] - 1; math.Abs(rel) > 0.25 {
			t.Errorf("rank %v: empirical variance %.4g, reported %.4g (relative %+.3f)", rk, got, reported[i], rel)
		} else {
			t.Logf("rank %v: empirical variance %.4g, reported %.4g (relative %+.3f)", rk, got, reported[i], rel)
		}
	}
}
