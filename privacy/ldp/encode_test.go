package ldp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCMSBitFlipRates: each bit of a CMS report is flipped independently
// with probability 1/(1+e^(ε/2)): the hashed bit is set with probability
// 1-p and every other bit with probability p, and two other bits are set
// together with probability p² (5 standard errors each).
func TestCMSBitFlipRates(t *testing.T) {
	const n = 40_000
	r := rand.New(rand.NewPCG(5, 5))
	p, err := NewParams(CMS, 2, 37, 1, r) // m not a multiple of 8: padding stays clear
	if err != nil {
		t.Fatal(err)
	}
	flip := 1 / (1 + math.Exp(1))
	h := p.Hash(0, "x")
	ones := make([]int, p.M)
	pair := 0
	a, b := (h+1)%p.M, (h+2)%p.M
	for range n {
		rep := p.Encode("x", r)
		if last := rep.Bits[len(rep.Bits)-1]; last>>(p.M%8) != 0 {
			t.Fatal("padding bits set")
		}
		bit := func(i int) bool { return rep.Bits[i/8]>>(i%8)&1 == 1 }
		for i := range ones {
			if bit(i) {
				ones[i]++
			}
		}
		if bit(a) && bit(b) {
			pair++
		}
	}
	check := func(what string, got int, want float64) {
		t.Helper()
		if se := math.Sqrt(n * want * (1 - want)); math.Abs(float64(got)-n*want) > 5*se {
			t.Errorf("%s: %d of %d, want ≈ %.0f", what, got, n, n*want)
		}
	}
	for i, c := range ones {
		if i == h {
			check("hashed bit", c, 1-flip)
		} else {
			check("other bit", c, flip)
		}
	}
	check("two other bits together", pair, flip*flip)
}

func BenchmarkCMSEncodeAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	p, _ := NewParams(CMS, 2, 1024, 16, r)
	sk := NewSketch(p)
	for b.Loop() {
		if err := sk.Add(p.Encode("zorbaxite", r)); err != nil {
			b.Fatal(err)
		}
	}
}
