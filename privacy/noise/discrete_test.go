package noise

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/internal/cputime"
)

// dgBinMass returns the N_Z(0, σ²) mass of the integers in [a, b]: summed
// exactly for σ ≤ 10⁴, else by the normal CDF over [a − ½, b + ½] (the
// midpoint rule's relative error is about 1/(24σ²)).
func dgBinMass(sigma float64, a, b int64) float64 {
	if sigma > 1e4 {
		phi := func(x float64) float64 { return 0.5 * math.Erfc(-x/(sigma*math.Sqrt2)) }
		return phi(float64(b)+0.5) - phi(float64(a)-0.5)
	}
	norm := 0.0
	lim := int64(math.Ceil(40 * sigma))
	for z := -lim; z <= lim; z++ {
		norm += math.Exp(-float64(z*z) / (2 * sigma * sigma))
	}
	s := 0.0
	for z := max(a, -lim); z <= min(b, lim); z++ {
		s += math.Exp(-float64(z*z) / (2 * sigma * sigma))
	}
	return s / norm
}

// TestDiscreteGaussianLargeSigma covers σ where the proposal's blocks are
// wider than one integer (W = 2, 32, 2^16): 200,000 draws each; mean and
// variance within 5 standard errors of N_Z's (whose variance equals σ² to
// within e^{-2π²σ²} here), and χ² against the mass function on bins of
// width W/4 (so a wrong acceptance inside a block shows) out to ±4σ, tails
// merged, at the 0.999 quantile.
func TestDiscreteGaussianLargeSigma(t *testing.T) {
	for _, sigma := range []float64{50, 700, 2.2e6} {
		d, err := NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(11, uint64(sigma))))
		if err != nil {
			t.Fatal(err)
		}
		w := int64(1) << d.bits
		width := max(w/4, 1)
		lim := int64(4*sigma) / width // bins −lim … lim−1 of width, tails merged
		n := 200_000
		counts := make(map[int64]int)
		var sum, sum2 float64
		for range n {
			z := d.Sample()
			sum += float64(z)
			sum2 += float64(z) * float64(z)
			bin := z / width
			if z < 0 && z%width != 0 {
				bin-- // floor division
			}
			counts[max(-lim, min(lim-1, bin))]++
		}
		fn := float64(n)
		mean, variance := sum/fn, sum2/fn-(sum/fn)*(sum/fn)
		if math.Abs(mean) > 5*sigma/math.Sqrt(fn) {
			t.Errorf("σ=%v: mean %v", sigma, mean)
		}
		if math.Abs(variance/(sigma*sigma)-1) > 5*math.Sqrt(2/fn) {
			t.Errorf("σ=%v: variance %v, want %v", sigma, variance, sigma*sigma)
		}
		chi2, df := 0.0, -1
		for bin := -lim; bin < lim; bin++ {
			a, b := bin*width, (bin+1)*width-1
			switch bin {
			case -lim:
				a = math.MinInt64 / 2
			case lim - 1:
				b = math.MaxInt64 / 2
			}
			e := dgBinMass(sigma, a, b) * fn
			o := float64(counts[bin])
			chi2 += (o - e) * (o - e) / e
			df++
		}
		if crit := float64(df) + 3.09*math.Sqrt(2*float64(df)) + 2; chi2 > crit {
			t.Errorf("σ=%v (W=%d): χ² = %v over %d df (critical %v)", sigma, w, chi2, df, crit)
		}
	}
}

// offsetMass returns, for N_Z(0, σ²), the probability that |z| mod w falls
// in each of nsub equal sub-ranges of [0, w): where inside its block of the
// proposal a draw lands.
func offsetMass(sigma float64, w int64, nsub int) []float64 {
	acc := make([]float64, nsub)
	width := w / int64(nsub)
	if sigma <= 1e4 {
		lim := int64(20 * sigma)
		norm := 0.0
		for z := -lim; z <= lim; z++ {
			norm += math.Exp(-float64(z*z) / (2 * sigma * sigma))
		}
		for z := -lim; z <= lim; z++ {
			m := max(z, -z)
			acc[(m%w)/width] += math.Exp(-float64(z*z)/(2*sigma*sigma)) / norm
		}
		return acc
	}
	// Both signs of each sub-range [a, a+width) of magnitudes (z = 0's
	// double count is negligible at this σ).
	for a := int64(0); float64(a) < 20*sigma; a += width {
		acc[(a%w)/width] += 2 * dgBinMass(sigma, a, a+width-1)
	}
	return acc
}

// TestDiscreteGaussianWithinBlock: χ² of where draws land inside the
// proposal's blocks (|z| mod W in 32 sub-ranges, or W of them when W < 32)
// against N_Z's, 2,000,000 draws at the 0.999 quantile. Pooled over the
// blocks, N_Z's offsets fall linearly by about 0.8·W/σ across a block (3.6%
// at σ = 700) while accepting every proposal — the envelope's step function
// instead of the Gaussian — gives uniform offsets; with this many draws that
// mutant fails here (χ² ≈ 260 and 130 against a critical 57 for σ = 700 and
// 2.2·10⁶; checked by hand).
func TestDiscreteGaussianWithinBlock(t *testing.T) {
	for _, sigma := range []float64{50, 700, 2.2e6} {
		d, err := NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(13, uint64(sigma))))
		if err != nil {
			t.Fatal(err)
		}
		w := int64(1) << d.bits
		nsub := int(min(w, 32))
		want := offsetMass(sigma, w, nsub)
		n := 2_000_000
		got := make([]float64, nsub)
		for range n {
			z := d.Sample()
			got[(max(z, -z)%w)/(w/int64(nsub))]++
		}
		chi2 := 0.0
		for s := range got {
			e := want[s] * float64(n)
			chi2 += (got[s] - e) * (got[s] - e) / e
		}
		df := float64(nsub - 1)
		if crit := df + 3.09*math.Sqrt(2*df) + 2; chi2 > crit {
			t.Errorf("σ=%v (W=%d): χ² = %v over %v df (critical %v)", sigma, w, chi2, df, crit)
		}
	}
}

// TestDiscreteGaussianAliasTable: the proposal's block probabilities (from
// the 64-bit alias thresholds) are proportional to f(kW) to 1e-12.
func TestDiscreteGaussianAliasTable(t *testing.T) {
	for _, sigma := range []float64{0.8, 700, 2.2e6, 1 << 40} {
		d, err := NewDiscreteGaussian(sigma, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		var got [dgBlocks]float64
		for j := range dgBlocks {
			keep := math.Ldexp(float64(d.keep[j]), -64)
			got[j] += keep / dgBlocks
			got[d.alias[j]] += (1 - keep) / dgBlocks
		}
		var total float64
		var want [dgBlocks]float64
		for k := range want {
			x := float64(uint64(k) << d.bits)
			want[k] = math.Exp(-x * x / (2 * sigma * sigma))
			total += want[k]
		}
		for k := range want {
			if diff := math.Abs(got[k] - want[k]/total); diff > 1e-12 {
				t.Fatalf("σ=%v block %d: probability %v, want %v", sigma, k, got[k], want[k]/total)
			}
		}
		if reach := float64(uint64(dgBlocks) << d.bits); reach < dgReach*sigma {
			t.Fatalf("σ=%v: blocks reach %v < 12σ", sigma, reach)
		}
	}
}

func TestDiscreteGaussianRejectsBadSigma(t *testing.T) {
	for _, s := range []float64{0, -1, math.NaN(), math.Inf(1), 1<<40 + 1, 1e-160} {
		if _, err := NewDiscreteGaussian(s, rand.New(rand.NewPCG(1, 1))); err == nil {
			t.Errorf("σ=%v accepted", s)
		}
	}
	// The smallest σ taken is all zeros (its weights stay finite).
	d, err := NewDiscreteGaussian(1e-150, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]int64, 1000)
	d.AddTo(x)
	for i, v := range x {
		if v != 0 {
			t.Fatalf("σ=1e-150: draw %d is %d", i, v)
		}
	}
	if _, err := NewDiscreteGaussian(1, nil); err == nil {
		t.Error("nil source accepted")
	}
}

func TestDiscreteGaussianDoesNotAllocate(t *testing.T) {
	d, _ := NewDiscreteGaussian(2.2e6, rand.New(rand.NewPCG(1, 1)))
	x := make([]int64, 1024)
	if n := testing.AllocsPerRun(10, func() { d.AddTo(x) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// BenchmarkDiscreteGaussian draws one update's noise (37,024 coordinates)
// at the σ of the FL round-cost benchmark (about 2.2·10^6 units) from
// CryptoRand, including the sampler's construction.
func BenchmarkDiscreteGaussian(b *testing.B) {
	for _, sigma := range []float64{3.5, 2.2e6} {
		b.Run(map[bool]string{true: "sigma=3.5", false: "sigma=2.2e6"}[sigma < 10], func(b *testing.B) {
			x := make([]int64, 37024)
			r := CryptoRand()
			cpu := cputime.Used()
			for b.Loop() {
				d, _ := NewDiscreteGaussian(sigma, r)
				d.AddTo(x)
			}
			cpu = cputime.Used() - cpu
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(x)), "ns/sample")
			// Process CPU time (one goroutine): what a shared machine's
			// load hardly moves.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(len(x)), "cpu-ns/sample")
		})
	}
}

// cksSample is Canonne, Kamath and Steinke's Algorithm 3 (discrete Laplace
// proposal with t = ⌊σ⌋+1, float Bernoulli(exp(−γ)) trials): the sampler
// this package used before the block envelope, kept as the benchmark's
// baseline.
func cksSample(sigma float64, r *rand.Rand) int64 {
	t := int64(math.Floor(sigma)) + 1
	bern := func(g float64) bool { return r.Float64() < math.Exp(-g) }
	for {
		var y int64
		for {
			u := r.Int64N(t)
			if !bern(float64(u) / float64(t)) {
				continue
			}
			v := int64(0)
			for bern(1) {
				v++
			}
			y = u + t*v
			if neg := r.Uint64()&1 == 1; neg {
				if y == 0 {
					continue
				}
				y = -y
			}
			break
		}
		a := math.Abs(float64(y)) - sigma*sigma/float64(t)
		if bern(a * a / (2 * sigma * sigma)) {
			return y
		}
	}
}

func BenchmarkDiscreteGaussianCKS(b *testing.B) {
	x := make([]int64, 37024)
	r := CryptoRand()
	for b.Loop() {
		for i := range x {
			x[i] += cksSample(2.2e6, r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(x)), "ns/sample")
}

// TestDiscreteGaussianStreamUnchanged pins a seeded sampler's draws (a
// SHA-256 prefix of 100,003 of them, drawn in two calls) at five σ: the
// values the sampler gave before its branch-free rewrite, so a speed-up
// cannot change what is drawn.
func TestDiscreteGaussianStreamUnchanged(t *testing.T) {
	want := map[float64]string{
		0.7: "9c6caae94ab376ed", 3.5: "fd00de0941e02111", 40: "9da7207aad83b927",
		2.2e6: "33ec84f3468afcd5", 1e9: "9951f12ea752d9e6",
	}
	for sigma, w := range want {
		d, err := NewDiscreteGaussian(sigma, rand.New(rand.NewChaCha8([32]byte{1, 2, 3})))
		if err != nil {
			t.Fatal(err)
		}
		x := make([]int64, 100003)
		d.AddTo(x[:77])
		d.AddTo(x[77:])
		h := sha256.New()
		for _, v := range x {
			h.Write(binary.LittleEndian.AppendUint64(nil, uint64(v)))
		}
		if got := hex.EncodeToString(h.Sum(nil)[:8]); got != w {
			t.Errorf("σ = %v: draws hash to %s, want %s", sigma, got, w)
		}
	}
}
