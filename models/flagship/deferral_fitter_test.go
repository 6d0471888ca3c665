package flagship

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestDeferralFitterInBatches: adding the trips in uneven batches fits
// the head FitDeferral fits on all of them at once, bit for bit, and a
// bad trip is named by its index among all the trips added.
func TestDeferralFitterInBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, d = 1000, 4
	route := make([]float32, n*d)
	small, server := make([]float64, n), make([]float64, n)
	for i := range n {
		for j := range d {
			route[i*d+j] = float32(rng.NormFloat64())
		}
		small[i], server[i] = 60+600*rng.Float64(), 60+600*rng.Float64()
	}
	want, err := FitDeferral(route, d, small, server, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	f := NewDeferralFitter(d)
	for lo := 0; lo < n; {
		hi := min(n, lo+1+rng.IntN(97))
		if err := f.Add(route[lo*d:hi*d], small[lo:hi], server[lo:hi]); err != nil {
			t.Fatal(err)
		}
		lo = hi
	}
	got, err := f.Fit(1e-3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("in batches %+v, at once %+v", got, want)
	}
	f = NewDeferralFitter(d)
	if err := f.Add(route[:10*d], small[:10], server[:10]); err != nil {
		t.Fatal(err)
	}
	bad := append([]float64(nil), small[10:20]...)
	bad[3] = 0
	if err := f.Add(route[10*d:20*d], bad, server[10:20]); err == nil || !strings.Contains(err.Error(), "trip 13") {
		t.Fatalf("a zero ETA at trip 13: %v", err)
	}
	if _, err := NewDeferralFitter(d).Fit(0); err == nil {
		t.Fatal("a fit on no trips succeeded")
	}
}
