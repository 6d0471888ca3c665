package experiment

import (
	"errors"
	"math"
	"testing"
)

// TestSRMAgainstSciPy: values from scipy.stats.chisquare (Debian scipy
// 1.10) for the same observed and expected counts.
func TestSRMAgainstSciPy(t *testing.T) {
	cases := []struct {
		counts, weights []float64
		chi2, p         float64
	}{
		{[]float64{50000, 49000}, nil, 10.1010101010101, 0.0014818807747203882},
		{[]float64{50000, 49000}, []float64{0.5, 0.5}, 10.1010101010101, 0.0014818807747203882},
		{[]float64{3000, 7100}, []float64{0.3, 0.7}, 0.4243281471004243, 0.5147852458084219},
		{[]float64{1000, 1010, 950}, nil, 2.0945945945945947, 0.3508848060416291},
	}
	for _, c := range cases {
		r, err := SRM(c.counts, c.weights)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Chi2-c.chi2) > 1e-9*c.chi2 || math.Abs(r.PValue-c.p) > 1e-12 {
			t.Errorf("SRM(%v, %v) = %+v, scipy χ² %g p %g", c.counts, c.weights, r, c.chi2, c.p)
		}
		if r.DF != len(c.counts)-1 || r.Alert != (c.p < SRMAlertP) {
			t.Errorf("SRM(%v): df %d alert %v", c.counts, r.DF, r.Alert)
		}
	}
	r, _ := SRM([]float64{50000, 48500}, nil)
	if !r.Alert {
		t.Errorf("50000 vs 48500 should alert: %+v", r)
	}
}

func TestSRMErrors(t *testing.T) {
	for _, c := range []struct{ counts, weights []float64 }{
		{[]float64{1}, nil},
		{[]float64{1, 2}, []float64{1}},
		{[]float64{1, 2}, []float64{1, 0}},
		{[]float64{-1, 2}, nil},
		{[]float64{math.NaN(), 2}, nil},
	} {
		if _, err := SRM(c.counts, c.weights); !errors.Is(err, ErrInvalid) {
			t.Errorf("SRM(%v, %v): %v, want ErrInvalid", c.counts, c.weights, err)
		}
	}
	if r, err := SRM([]float64{0, 0}, nil); err != nil || r.PValue != 1 || r.Alert {
		t.Errorf("empty arms: %+v %v", r, err)
	}
}
