package accountant

import (
	"math"
	"testing"
)

// TestBinaryTreeLaplace: a Laplace tree of T releases with node scale
// b = D·Δ/ε costs exactly ε (D = ⌈log2(T+1)⌉), and its RDP curve is D
// Laplace mechanisms' — tending to ε at high orders, below it elsewhere.
func TestBinaryTreeLaplace(t *testing.T) {
	for _, tc := range []struct {
		releases, depth int
	}{{1, 1}, {2, 2}, {3, 2}, {7, 3}, {8, 4}, {2882, 12}, {8642, 14}} {
		const eps = 0.5
		b := BinaryTree{Releases: tc.releases, LaplaceScale: float64(tc.depth) / eps}
		if b.Depth() != tc.depth {
			t.Errorf("T %d: depth %d, want %d", tc.releases, b.Depth(), tc.depth)
		}
		got, err := b.Epsilon(0)
		if err != nil || math.Abs(got-eps) > 1e-12 {
			t.Errorf("T %d: ε %v (%v), want %v", tc.releases, got, err, eps)
		}
		orders := []float64{1.5, 8, 64, 1e6}
		rdp := make([]float64, len(orders))
		if err := b.AddRDP(orders, rdp); err != nil {
			t.Fatal(err)
		}
		for i, a := range orders {
			want := float64(tc.depth) * laplaceRDP(eps/float64(tc.depth), a)
			if math.Abs(rdp[i]-want) > 1e-12 || rdp[i] > eps+1e-12 {
				t.Errorf("T %d: RDP(%v) = %v, want %v ≤ ε", tc.releases, a, rdp[i], want)
			}
		}
		if rdp[3] < 0.99*eps {
			t.Errorf("T %d: RDP at order 1e6 is %v; it tends to ε %v", tc.releases, rdp[3], eps)
		}
	}
}

// TestBinaryTreeGaussian: a Gaussian tree is TreeAggregation's one tree,
// α·D/(2σ²), and costs far less than T fresh Gaussian releases at the same
// node noise.
func TestBinaryTreeGaussian(t *testing.T) {
	b := BinaryTree{Releases: 4095, NoiseMultiplier: 20}
	orders := []float64{2, 10}
	rdp := make([]float64, 2)
	if err := b.AddRDP(orders, rdp); err != nil {
		t.Fatal(err)
	}
	for i, a := range orders {
		if want := a * 12 / (2 * 400); math.Abs(rdp[i]-want) > 1e-12 {
			t.Errorf("RDP(%v) = %v, want %v", a, rdp[i], want)
		}
	}
	tree, err := b.Epsilon(1e-6)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := SampledGaussianEpsilon(1, 20, 4095, 1e-6, nil, Improved)
	if err != nil {
		t.Fatal(err)
	}
	if !(tree > 0 && tree < fresh/10) {
		t.Errorf("tree ε %v, 4 095 fresh releases ε %v", tree, fresh)
	}
	t.Logf("σ/Δ 20, δ 1e-6: one tree of 4 095 releases ε %.3f; 4 095 fresh releases ε %.1f", tree, fresh)
}

func TestBinaryTreeRejects(t *testing.T) {
	for _, b := range []BinaryTree{
		{Releases: 0, LaplaceScale: 1},
		{Releases: 10},
		{Releases: 10, LaplaceScale: 1, NoiseMultiplier: 1},
		{Releases: 10, LaplaceScale: -1},
		{Releases: 10, NoiseMultiplier: math.Inf(1)},
	} {
		if _, err := b.Epsilon(1e-6); err == nil {
			t.Errorf("%+v accepted", b)
		}
	}
}

// TestHybridCounter: a Laplace hybrid counter with term scale s·Δ costs
// 2/s whatever its length, its RDP never exceeds that ε, and a Gaussian
// one is (1 + D)/(2σ²)-zCDP.
func TestHybridCounter(t *testing.T) {
	for _, T := range []int{1, 100, 8642} {
		h := HybridCounter{Releases: T, LaplaceScale: 4}
		if eps, err := h.Epsilon(0); err != nil || eps != 0.5 {
			t.Errorf("T %d: ε %v (%v), want 0.5", T, eps, err)
		}
		orders := []float64{1.5, 4, 1e3}
		rdp := make([]float64, 3)
		if err := h.AddRDP(orders, rdp); err != nil {
			t.Fatal(err)
		}
		for i, a := range orders {
			if want := min(0.5, a*0.125); rdp[i] != want {
				t.Errorf("RDP(%v) = %v, want %v", a, rdp[i], want)
			}
		}
	}
	g := HybridCounter{Releases: 8642, NoiseMultiplier: 10}
	rdp := make([]float64, 1)
	if err := g.AddRDP([]float64{2}, rdp); err != nil {
		t.Fatal(err)
	}
	if want := 2 * 15.0 / 200; math.Abs(rdp[0]-want) > 1e-12 {
		t.Errorf("Gaussian RDP(2) = %v, want %v", rdp[0], want)
	}
	if _, err := (HybridCounter{Releases: 10}).Epsilon(1e-6); err == nil {
		t.Error("a counter without noise has an ε")
	}
}
