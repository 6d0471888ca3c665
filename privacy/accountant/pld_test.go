package accountant

import (
	"math"
	"testing"
)

// gaussianDelta is the exact δ(ε) of the Gaussian mechanism with
// sensitivity/σ = mu (Balle, Wang 2018, Thm. 8):
// δ = Φ(-ε/μ + μ/2) - e^ε Φ(-ε/μ - μ/2).
func gaussianDelta(mu, eps float64) float64 {
	return normCDF(-eps/mu+mu/2) - math.Exp(eps)*normCDF(-eps/mu-mu/2)
}

// TestPLDGaussianExact: with q = 1 the T-fold composition of Gaussians is a
// Gaussian with μ = √T/σ, whose δ(ε) is known exactly. The pessimistic PLD
// must not be below it, and at interval 1e-4 is within 1% of it.
func TestPLDGaussianExact(t *testing.T) {
	for _, c := range []struct {
		sigma float64
		steps int
	}{{1, 1}, {2, 10}, {5, 100}} {
		p, err := SampledGaussianPLD(1, c.sigma, 1e-4)
		if err != nil {
			t.Fatal(err)
		}
		comp, err := p.SelfCompose(c.steps)
		if err != nil {
			t.Fatal(err)
		}
		mu := math.Sqrt(float64(c.steps)) / c.sigma
		for _, eps := range []float64{0.1, 0.5, 1, 2} {
			want := gaussianDelta(mu, eps)
			got := comp.Delta(eps)
			if got < want*(1-1e-9) || got > want*1.01+1e-12 {
				t.Errorf("σ=%v T=%d ε=%v: δ = %.6g, exact %.6g", c.sigma, c.steps, eps, got, want)
			}
		}
	}
}

// TestPLDSingleStepIntegration checks one subsampled-Gaussian step against
// a direct numerical integration of the hockey-stick divergence,
// δ(ε) = ∫ (p(x) - e^ε·q(x))₊ dx, for both adjacency directions: the
// pessimistic PLD is never below it and, at interval 1e-4, within 0.5%
// (for ε well below the add-direction loss bound -log(1-q), where rounding
// up by Δ matters most).
func TestPLDSingleStepIntegration(t *testing.T) {
	for _, c := range []struct{ q, sigma, eps float64 }{{0.1, 0.8, 0.05}, {0.3, 1, 0.2}, {0.05, 0.5, 0.02}} {
		p, err := SampledGaussianPLD(c.q, c.sigma, 1e-4)
		if err != nil {
			t.Fatal(err)
		}
		pdf := func(x, mu float64) float64 {
			z := (x - mu) / c.sigma
			return math.Exp(-z*z/2) / (c.sigma * math.Sqrt(2*math.Pi))
		}
		mix := func(x float64) float64 { return (1-c.q)*pdf(x, 0) + c.q*pdf(x, 1) }
		base := func(x float64) float64 { return pdf(x, 0) }
		integrate := func(f func(float64) float64) float64 {
			lo, hi, n := -30*c.sigma, 1+30*c.sigma, 2_000_000
			h := (hi - lo) / float64(n)
			s := 0.0
			for i := 0; i <= n; i++ {
				w := 1.0
				if i == 0 || i == n {
					w = 0.5
				}
				s += w * f(lo+float64(i)*h)
			}
			return s * h
		}
		e := math.Exp(c.eps)
		wantRem := integrate(func(x float64) float64 { return max(mix(x)-e*base(x), 0) })
		wantAdd := integrate(func(x float64) float64 { return max(base(x)-e*mix(x), 0) })
		for _, r := range []struct {
			name      string
			got, want float64
		}{{"remove", p.Remove.DeltaForEpsilon(c.eps), wantRem}, {"add", p.Add.DeltaForEpsilon(c.eps), wantAdd}} {
			if r.got < r.want*(1-1e-6) || r.got > r.want*1.005 {
				t.Errorf("q=%v σ=%v ε=%v %s: δ = %.8g, integral %.8g", c.q, c.sigma, c.eps, r.name, r.got, r.want)
			}
		}
	}
}

// TestPLDTighterThanRDP: for the subsampled Gaussian the PLD ε is below the
// RDP ε (and positive), and ε(δ(ε)) round-trips.
func TestPLDTighterThanRDP(t *testing.T) {
	for _, c := range []struct {
		q, sigma float64
		steps    int
	}{{0.005, 0.9, 2000}, {0.01, 1.1, 1000}, {0.04, 1.5, 2250}, {0.01, 4, 10000}} {
		pld, err := PLDSampledGaussianEpsilon(c.q, c.sigma, c.steps, 1e-5, 1e-4)
		if err != nil {
			t.Fatal(err)
		}
		rdp, _, err := SampledGaussianEpsilon(c.q, c.sigma, c.steps, 1e-5, nil, Improved)
		if err != nil {
			t.Fatal(err)
		}
		if !(pld > 0 && pld < rdp) || pld < 0.6*rdp {
			t.Errorf("q=%v σ=%v T=%d: PLD ε %v, RDP ε %v", c.q, c.sigma, c.steps, pld, rdp)
		}
		p, _ := SampledGaussianPLD(c.q, c.sigma, 1e-4)
		comp, _ := p.SelfCompose(c.steps)
		if d := comp.Delta(pld); math.Abs(d-1e-5) > 1e-8 {
			t.Errorf("q=%v: δ(ε(1e-5)) = %v", c.q, d)
		}
	}
}

// TestPLDMassConserved: every step's discretized distributions carry all the
// probability.
func TestPLDMassConserved(t *testing.T) {
	for _, q := range []float64{0.001, 0.3, 1} {
		p, err := SampledGaussianPLD(q, 0.8, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		for name, l := range map[string]LossPMF{"remove": p.Remove, "add": p.Add} {
			s := l.Infinite
			for _, v := range l.PMF {
				s += v
			}
			if math.Abs(s-1) > 1e-12 {
				t.Errorf("q=%v %s: total mass %v", q, name, s)
			}
		}
	}
}
