package secagg

import (
	"math"
	"math/big"
	"testing"
)

// TestDefaultDegreeValues: the degrees DefaultDegree gives (also computed
// with exact binomial sums in Python while writing Degree) and the ones
// docs/threat-model.md quotes.
func TestDefaultDegreeValues(t *testing.T) {
	for _, c := range []struct{ n, k int }{
		{10, 0}, {23, 0}, {30, 22}, {103, 22}, {500, 24}, {550, 24}, {1000, 24}, {5000, 26},
	} {
		if k := DefaultDegree(c.n); k != c.k {
			t.Errorf("DefaultDegree(%d) = %d, want %d", c.n, k, c.k)
		}
	}
	ten := DefaultAssumptions
	ten.Dropout = 0.10
	for _, c := range []struct{ n, k int }{{103, 34}, {500, 36}, {1000, 38}, {5000, 40}} {
		if k := Degree(c.n, ten); k != c.k {
			t.Errorf("Degree(%d, 10%% dropout) = %d, want %d", c.n, k, c.k)
		}
	}
}

// TestDegreeIsLeast: the degree meets every bound and k − 2 misses one;
// more dropout or more colluders never give a smaller degree.
func TestDegreeIsLeast(t *testing.T) {
	for _, n := range []int{50, 103, 550, 2000, 5000, 20000} {
		for _, a := range []Assumptions{
			DefaultAssumptions,
			{Dropout: 0.1, Colluding: 0.02, Security: 40, Liveness: 20},
			{Dropout: 0.05, Colluding: 0.05, Security: 40, Liveness: 30},
			{Dropout: 0.05, Colluding: 0, Security: 40, Liveness: 20},
		} {
			k := Degree(n, a)
			if k == 0 {
				continue
			}
			ok := func(k int) bool {
				b := a.Bounds(n, k)
				return b.Secrecy <= -a.Security && b.Split <= -a.Security && b.Liveness <= -a.Liveness
			}
			if k%2 != 0 || !ok(k) || (k > 2 && ok(k-2)) {
				t.Errorf("n=%d %+v: k=%d is not the least even degree within the bounds (%+v)", n, a, k, a.Bounds(n, k))
			}
			more := a
			more.Dropout += 0.02
			if k2 := Degree(n, more); k2 != 0 && k2 < k {
				t.Errorf("n=%d: more dropout gave k=%d < %d", n, k2, k)
			}
			more = a
			more.Colluding += 0.01
			if k2 := Degree(n, more); k2 != 0 && k2 < k {
				t.Errorf("n=%d: more colluders gave k=%d < %d", n, k2, k)
			}
		}
	}
}

// TestDegreeBoundsExact checks Bounds against exact rational arithmetic:
// the binomial tail and C(k, t)·p^t summed as big.Rat.
func TestDegreeBoundsExact(t *testing.T) {
	rat := func(x float64) *big.Rat { r, _ := new(big.Rat).SetString(big.NewFloat(x).Text('g', 20)); return r }
	log2 := func(r *big.Rat) float64 {
		f, _ := new(big.Float).SetPrec(200).SetRat(r).Float64()
		return math.Log2(f)
	}
	for _, c := range []struct {
		n, k int
		a    Assumptions
	}{
		{103, 22, DefaultAssumptions}, {550, 24, DefaultAssumptions}, {5000, 40, Assumptions{0.1, 0.05, 40, 20}},
	} {
		b := c.a.Bounds(c.n, c.k)
		tt := c.k/2 + 1
		d, q := rat(c.a.Dropout), new(big.Rat).Sub(big.NewRat(1, 1), rat(c.a.Dropout))
		tail := new(big.Rat)
		for i := c.k - tt + 1; i <= c.k; i++ {
			term := new(big.Rat).SetInt(new(big.Int).Binomial(int64(c.k), int64(i)))
			for range i {
				term.Mul(term, d)
			}
			for range c.k - i {
				term.Mul(term, q)
			}
			tail.Add(tail, term)
		}
		live := log2(tail.Mul(tail, big.NewRat(int64(c.n), 1)))
		p := new(big.Rat).Mul(rat(c.a.Colluding), big.NewRat(int64(c.n), int64(c.n-1)))
		sec := new(big.Rat).SetInt(new(big.Int).Binomial(int64(c.k), int64(tt)))
		for range tt {
			sec.Mul(sec, p)
		}
		secr := log2(sec.Mul(sec, big.NewRat(int64(c.n), 1)))
		for _, x := range [][2]float64{{b.Liveness, live}, {b.Secrecy, secr}} {
			if math.Abs(x[0]-x[1]) > 1e-9*math.Abs(x[1]) {
				t.Errorf("n=%d k=%d: bound log2 %v, exact %v", c.n, c.k, x[0], x[1])
			}
		}
	}
}
