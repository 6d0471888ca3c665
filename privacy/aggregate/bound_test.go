package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestBoundLimitsContributions: a unit spread over 10 partitions with 10
// values in each keeps 3 partitions and 2 values per partition; records of
// partitions not listed are dropped; the choice is uniform over partitions
// and deterministic given the generator.
func TestBoundLimitsContributions(t *testing.T) {
	var recs []Record
	var parts []string
	for p := 0; p < 10; p++ {
		parts = append(parts, fmt.Sprint("p", p))
		for v := 0; v < 10; v++ {
			recs = append(recs, Record{Unit: "heavy", Partition: fmt.Sprint("p", p), Value: float64(v)})
		}
	}
	recs = append(recs, Record{Unit: "light", Partition: "p0", Value: 1}, Record{Unit: "light", Partition: "secret", Value: 1})
	chosen := map[string]int{}
	const trials = 4000
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < trials; i++ {
		b, err := Bound(recs, parts, 3, 2, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b["secret"]; ok {
			t.Fatal("unlisted partition released")
		}
		if len(b) != len(parts) {
			t.Fatalf("%d partitions in result, want every listed one (%d)", len(b), len(parts))
		}
		n := 0
		for p, units := range b {
			for _, u := range units {
				if len(u.Values) > 2 {
					t.Fatalf("unit %s kept %d values in %s", u.Unit, len(u.Values), p)
				}
				if u.Unit == "heavy" {
					n++
					chosen[p]++
				}
			}
		}
		if n != 3 {
			t.Fatalf("heavy unit kept %d partitions, want 3", n)
		}
	}
	// Each partition is kept with probability 3/10; 5 standard errors.
	se := math.Sqrt(trials * 0.3 * 0.7)
	for _, p := range parts {
		if math.Abs(float64(chosen[p])-0.3*trials) > 5*se {
			t.Errorf("partition %s kept %d times of %d, want ≈ %v", p, chosen[p], trials, 0.3*trials)
		}
	}
	a, _ := Bound(recs, parts, 3, 2, rand.New(rand.NewPCG(1, 1)))
	b, _ := Bound(recs, parts, 3, 2, rand.New(rand.NewPCG(1, 1)))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("bounding is not deterministic given the generator")
	}
}

func TestRejectsInvalidParams(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	recs := []Record{{Unit: "a", Partition: "p", Value: 1}}
	bad := []Params{
		{Noise: Laplace, Epsilon: 1, Delta: 1e-5, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 1}, // Laplace needs δ = 0
		{Noise: Gaussian, Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 1},             // Gaussian needs δ > 0
		{Noise: Laplace, Epsilon: 0, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 1},
		{Noise: Laplace, Epsilon: 1, MaxPartitionsContributed: 0, MaxContributionsPerPartition: 1},
		{Noise: Laplace, Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 0},
	}
	for _, p := range bad {
		if _, err := Count(recs, []string{"p"}, p, r); err == nil {
			t.Errorf("Count accepted %+v", p)
		}
	}
	ok := Params{Noise: Laplace, Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 1}
	if _, err := Sum(recs, []string{"p"}, 5, 5, ok, r); err == nil {
		t.Error("Sum accepted empty bounds")
	}
	if _, err := Mean(recs, []string{"p"}, 1, math.Inf(1), ok, r); err == nil {
		t.Error("Mean accepted an infinite bound")
	}
	if _, err := Count(recs, []string{"p"}, ok, nil); err == nil {
		t.Error("nil generator accepted")
	}
}
