package noise

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	dpnoise "github.com/google/differential-privacy/go/v3/noise"
)

// ksStatistic returns the two-sample Kolmogorov–Smirnov statistic.
func ksStatistic(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	i, j, d := 0, 0, 0.0
	for i < len(a) && j < len(b) {
		if a[i] <= b[j] {
			i++
		} else {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

// TestGaussianMoments: mean, variance and kurtosis of 200,000 draws; bounds
// are 5 standard errors.
func TestGaussianMoments(t *testing.T) {
	g, err := NewGaussian(2.5, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, 200_000)
	g.AddTo(x)
	n := float64(len(x))
	var m, v, k float64
	for _, e := range x {
		m += e
	}
	m /= n
	for _, e := range x {
		d := (e - m) * (e - m)
		v += d
		k += d * d
	}
	v /= n
	k = k / n / (v * v)
	if math.Abs(m) > 5*2.5/math.Sqrt(n) {
		t.Errorf("mean %v", m)
	}
	if math.Abs(v/6.25-1) > 5*math.Sqrt(2/n) {
		t.Errorf("variance %v, want 6.25", v)
	}
	if math.Abs(k-3) > 5*math.Sqrt(24/n) {
		t.Errorf("kurtosis %v, want 3", k)
	}
}

// TestGaussianMatchesLibrary compares our samples with the DP library's
// Gaussian noise for the same σ (SigmaForGaussian for ε = 1, δ = 1e-5,
// L2 = 1): two-sample KS at n = 20,000 each, critical value 1.95·√(2/n)
// (α = 0.001).
func TestGaussianMatchesLibrary(t *testing.T) {
	sigma := dpnoise.SigmaForGaussian(1, 1, 1, 1e-5)
	g, _ := NewGaussian(sigma, rand.New(rand.NewPCG(3, 4)))
	n := 20_000
	ours := make([]float64, n)
	g.AddTo(ours)
	lib := make([]float64, n)
	for i := range lib {
		v, err := dpnoise.Gaussian().AddNoiseFloat64(0, 1, 1, 1, 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		lib[i] = v
	}
	if d := ksStatistic(ours, lib); d > 1.95*math.Sqrt(2/float64(n)) {
		t.Fatalf("KS statistic %v against the library (σ = %v)", d, sigma)
	}
	// And a shifted sampler is told apart: the test has power.
	shift := make([]float64, n)
	for i := range shift {
		shift[i] = sigma * 0.1
	}
	g.AddTo(shift)
	if d := ksStatistic(shift, lib); d < 1.95*math.Sqrt(2/float64(n)) {
		t.Fatalf("KS failed to see a 0.1σ shift (%v)", d)
	}
}

// TestSnapping: every output lies on the grid Λ·Z, and the value is rounded
// before noise is added (so two inputs within the same grid cell give the
// same output distribution — here, the same output for the same seed).
func TestSnapping(t *testing.T) {
	sigma := 3.0
	gran := Granularity(sigma)
	if gran < sigma*math.Exp2(-41) || gran > sigma*math.Exp2(-39) {
		t.Fatalf("granularity %v for σ %v", gran, sigma)
	}
	a, _ := NewGaussian(sigma, rand.New(rand.NewPCG(9, 9)))
	b, _ := NewGaussian(sigma, rand.New(rand.NewPCG(9, 9)))
	x := []float64{1.0, 1e-3, -7.25}
	y := []float64{1.0 + gran/4, 1e-3 - gran/4, -7.25 + gran/3}
	a.AddTo(x)
	b.AddTo(y)
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("inputs in one grid cell differ after noise: %v vs %v", x[i], y[i])
		}
		if r := x[i] / gran; r != math.Trunc(r) {
			t.Fatalf("output %v not a multiple of %v", x[i], gran)
		}
	}
}

func TestGaussianDoesNotAllocate(t *testing.T) {
	g, _ := NewGaussian(1, rand.New(rand.NewPCG(1, 1)))
	x := make([]float64, 1024)
	if n := testing.AllocsPerRun(10, func() { g.AddTo(x) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// TestDiscreteGaussianDistribution: chi-square of 100,000 draws against the
// N_Z(0, σ²) mass function for σ = 0.8 and 3.5, bins |z| ≤ 4σ merged in the
// tails; threshold is the 0.999 quantile. Variance within 5 standard errors.
func TestDiscreteGaussianDistribution(t *testing.T) {
	for _, sigma := range []float64{0.8, 3.5} {
		d, err := NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(5, uint64(sigma*10))))
		if err != nil {
			t.Fatal(err)
		}
		n := 100_000
		lim := int64(math.Ceil(4 * sigma))
		counts := map[int64]int{}
		var sum2 float64
		for range n {
			z := d.Sample()
			sum2 += float64(z * z)
			counts[max(-lim, min(lim, z))]++
		}
		norm := 0.0
		for z := int64(-1000); z <= 1000; z++ {
			norm += math.Exp(-float64(z*z) / (2 * sigma * sigma))
		}
		pmf := func(z int64) float64 { return math.Exp(-float64(z*z)/(2*sigma*sigma)) / norm }
		chi2, df := 0.0, -1
		variance := 0.0
		for z := int64(-1000); z <= 1000; z++ {
			variance += float64(z*z) * pmf(z)
		}
		for z := -lim; z <= lim; z++ {
			p := pmf(z)
			if z == lim || z == -lim {
				p = 0
				for w := lim; w <= 1000; w++ {
					p += pmf(w)
				}
			}
			e := p * float64(n)
			o := float64(counts[z])
			chi2 += (o - e) * (o - e) / e
			df++
		}
		// 0.999 quantile of χ² ≈ df + 3.09·√(2df) + 2 (Wilson–Hilferty, loose).
		if crit := float64(df) + 3.09*math.Sqrt(2*float64(df)) + 2; chi2 > crit {
			t.Errorf("σ=%v: χ² = %v over %d df (critical %v)", sigma, chi2, df, crit)
		}
		got := sum2 / float64(n)
		if math.Abs(got-variance) > 5*variance*math.Sqrt(2/float64(n))*1.5 {
			t.Errorf("σ=%v: variance %v, want %v", sigma, got, variance)
		}
	}
}

func BenchmarkGaussianAddTo1e6(b *testing.B) {
	g, _ := NewGaussian(1, rand.New(rand.NewPCG(1, 1)))
	x := make([]float64, 1_000_000)
	b.SetBytes(8 * int64(len(x)))
	for b.Loop() {
		g.AddTo(x)
	}
}

func BenchmarkGaussianAddTo1e6Crypto(b *testing.B) {
	g, _ := NewGaussian(1, CryptoRand())
	x := make([]float64, 1_000_000)
	b.SetBytes(8 * int64(len(x)))
	for b.Loop() {
		g.AddTo(x)
	}
}
