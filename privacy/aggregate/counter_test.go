package aggregate

import (
	"errors"
	"math"
	"testing"
)

// TestCounterTracksTheCount: with negligible noise, every release is the
// running count, whatever the increments.
func TestCounterTracksTheCount(t *testing.T) {
	cfg := Continual{Epsilon: 1e6, Sensitivity: 1, Releases: 100}
	c, err := NewCounter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for i := range 100 {
		total += float64(i%7) - 2 // increments may be negative
		e, err := c.Release(total)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(e.Value-total) > 1e-2 {
			t.Fatalf("release %d: %v, want %v", i+1, e.Value, total)
		}
		if want, err := cfg.VarianceAt(i + 1); err != nil || e.NoiseVariance != want {
			t.Fatalf("release %d: variance %v, want %v (%v)", i+1, e.NoiseVariance, want, err)
		}
	}
	if _, err := c.Release(total); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("release 101 of 100: %v", err)
	}
}

// TestCounterVarianceIsHonest: over many counters fed the same stream, the
// empirical variance of a release matches the reported one — release 16
// (2^4: five logarithmic terms) and release 31 (those plus four nodes of
// epoch 4's tree) — for both noises; the reports are VarianceAt's.
func TestCounterVarianceIsHonest(t *testing.T) {
	const runs = 1500
	const releases = 31
	for _, c := range []Continual{
		{Noise: Laplace, Epsilon: 1, Sensitivity: 10, Releases: releases},
		{Noise: Gaussian, Epsilon: 1, Delta: 1e-6, Sensitivity: 10, Releases: releases},
	} {
		var at16, at31 []float64
		var v16, v31 float64
		for range runs {
			k, err := NewCounter(c)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= releases; i++ {
				total := 5 * float64(i)
				e, err := k.Release(total)
				if err != nil {
					t.Fatal(err)
				}
				switch i {
				case 16:
					at16, v16 = append(at16, e.Value-total), e.NoiseVariance
				case 31:
					at31, v31 = append(at31, e.Value-total), e.NoiseVariance
				}
			}
		}
		checkVariance(t, c.Noise.String()+" release 16", at16, v16)
		checkVariance(t, c.Noise.String()+" release 31", at31, v31)
		w16, _ := c.VarianceAt(16)
		w31, _ := c.VarianceAt(31)
		if v16 != w16 || v31 != w31 {
			t.Errorf("%s: reported %v and %v, VarianceAt %v and %v", c.Noise, v16, v31, w16, w31)
		}
	}
}

// TestCounterErrorGrowsPolylog: for ε spread over T releases, the hybrid
// mechanism's worst release (in the last full epoch k = D−1, D =
// ⌈log2(T+1)⌉) has Laplace noise variance 8(Δ/ε)²·(D + (D−1)³): it grows
// as log³T (standard deviation log^1.5 T), and with Gaussian nodes as
// (2D−1)·σ², σ² ∝ 1+D: log²T (standard deviation log T). T fresh releases
// at ε/T each have variance 2(TΔ/ε)², growing as T². Its first release
// costs one Laplace term of scale 2Δ/ε: half the budget's fresh release.
// The figures for T = 15 … 8 641 (a day of releases every 10 s) are logged.
func TestCounterErrorGrowsPolylog(t *testing.T) {
	const eps, sens = 1.0, 1.0
	prevT := 0
	var prevGauss float64
	for _, T := range []int{15, 255, 4095, 8191, 8641} {
		d := float64(TreeDepth(T))
		lapC := Continual{Noise: Laplace, Epsilon: eps, Sensitivity: sens, Releases: T}
		lap, err := lapC.MaxVariance()
		if err != nil {
			t.Fatal(err)
		}
		if T == 1<<TreeDepth(T)-1 {
			if want := 8 * (d + (d-1)*(d-1)*(d-1)) * sens * sens / (eps * eps); math.Abs(lap/want-1) > 1e-6 {
				t.Errorf("T %d: Laplace worst-release variance %v, want 8(D + (D−1)³)(Δ/ε)² = %v", T, lap, want)
			}
		}
		if first, _ := lapC.VarianceAt(1); math.Abs(first/(8*sens*sens/(eps*eps))-1) > 1e-6 {
			t.Errorf("T %d: first release variance %v, want 2(2Δ/ε)²", T, first)
		}
		gc := Continual{Noise: Gaussian, Epsilon: eps, Delta: 1e-6, Sensitivity: sens, Releases: T}
		gauss, err := gc.MaxVariance()
		if err != nil {
			t.Fatal(err)
		}
		fresh := Mechanism{Noise: Laplace, Epsilon: eps / float64(T), L0: 1, LInf: sens}.Variance()
		if prevT > 0 && T == 1<<TreeDepth(T)-1 && prevT == 1<<TreeDepth(prevT)-1 {
			dp := float64(TreeDepth(prevT))
			want := (2*d - 1) * (1 + d) / ((2*dp - 1) * (1 + dp))
			if r := (gauss / prevGauss) / want; r < 0.85 || r > 1.15 {
				t.Errorf("T %d: Gaussian variance grew %.3g× from T %d; (2D−1)(1+D) grew %.3g×", T, gauss/prevGauss, prevT, want)
			}
		}
		if lap >= fresh && T > 15 {
			t.Errorf("T %d: hybrid variance %v not below fresh releases' %v", T, lap, fresh)
		}
		t.Logf("T %5d D %2.0f: worst-release noise sd per unit sensitivity at ε 1: Laplace %7.1f, Gaussian (δ 1e-6) %7.1f; %d fresh Laplace releases at ε/T %9.1f",
			T, d, math.Sqrt(lap), math.Sqrt(gauss), T, math.Sqrt(fresh))
		prevT, prevGauss = T, gauss
	}
}

func TestContinualRejectsBadParameters(t *testing.T) {
	for _, c := range []Continual{
		{Epsilon: 1, Sensitivity: 1, Releases: 0},
		{Epsilon: 1, Sensitivity: 0, Releases: 10},
		{Epsilon: 0, Sensitivity: 1, Releases: 10},
		{Noise: Gaussian, Epsilon: 1, Delta: 0, Sensitivity: 1, Releases: 10},
	} {
		if _, err := NewCounter(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	k, err := NewCounter(Continual{Epsilon: 1, Sensitivity: 1, Releases: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Release(math.NaN()); err == nil {
		t.Error("NaN count released")
	}
}
