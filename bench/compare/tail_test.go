package main

import (
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

func TestTailFlags(t *testing.T) {
	o, err := parseFlags([]string{"--dir", "..", "--tail", "--tail-runs", "300", "--tail-reps", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.tail || o.tailRuns != 300 || o.tailReps != 3 {
		t.Fatalf("parsed %+v", o)
	}
	if o, _ = parseFlags([]string{"--dir", ".."}); o.tail || o.tailRuns != 10000 || o.tailReps != 5 {
		t.Fatalf("defaults %+v", o)
	}
}

// TestRunTail runs compare --tail end to end on one small model and checks
// the table, the series and the JSON.
func TestRunTail(t *testing.T) {
	needORT(t)
	var rep struct {
		Tail []tailJSON `json:"tail"`
		Date string     `json:"date"`
	}
	runJSON(t, &rep, []string{"tail         3 series of 200", "Identity 1×16", "p99/p50"},
		"--dir", "..", "--models", "identity", "--tail", "--tail-runs", "200", "--tail-reps", "3",
		"--warmup", "2")
	if len(rep.Tail) != 1 || rep.Date == "" {
		t.Fatalf("report %+v", rep)
	}
	for _, s := range []*tailSeries{rep.Tail[0].Sextant, rep.Tail[0].ORT} {
		if s == nil || len(s.Reps) != 3 || s.MedianP50US <= 0 || s.MedianP99P50 < 1 {
			t.Fatalf("series %+v", s)
		}
		for _, r := range s.Reps {
			if r.Runs != 200 || r.P99US < r.P50US {
				t.Errorf("rep %+v", r)
			}
		}
	}
	if a := rep.Tail[0].Sextant.MaxAllocsPerR; a != 0 {
		t.Errorf("Sextant allocates %v times per run", a)
	}
}
