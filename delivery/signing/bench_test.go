package signing

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDirectorSign is a check-in whose assignment changed: a new
// signed document. BenchmarkDirectorCached is one whose did not.
func BenchmarkDirectorSign(b *testing.B) {
	k := newTestKeys(b)
	clk := &manualClock{now: t0}
	d, _ := NewDirector(DirectorConfig{}, clk, []*Key{k.director})
	a := Assignment{Device: "dev-1", Bundles: []Bundle{bundle("next-place", "1.0.0", "a")}}
	for i := 0; b.Loop(); i++ {
		a.Bundles[0].Length = int64(i + 1) // a new assignment each time
		if _, err := d.Document(a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDirectorCached(b *testing.B) {
	k := newTestKeys(b)
	clk := &manualClock{now: t0}
	d, _ := NewDirector(DirectorConfig{}, clk, []*Key{k.director})
	a := Assignment{Device: "dev-1", Bundles: []Bundle{bundle("next-place", "1.0.0", "a")}}
	if _, err := d.Document(a); err != nil {
		b.Fatal(err)
	}
	clk.now = clk.now.Add(time.Minute)
	for b.Loop() {
		if _, err := d.Document(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectorCached50k is a hit in a cache of 50,000 devices' documents
// (the load test's working set), devices taken round-robin.
func BenchmarkDirectorCached50k(b *testing.B) {
	k := newTestKeys(b)
	clk := &manualClock{now: t0}
	d, _ := NewDirector(DirectorConfig{}, clk, []*Key{k.director})
	bs := []Bundle{bundle("next-place", "1.0.0", "a")}
	as := make([]Assignment, 50_000)
	for i := range as {
		as[i] = Assignment{Device: fmt.Sprintf("load-%09d", i), Bundles: bs}
		if _, err := d.Document(as[i]); err != nil {
			b.Fatal(err)
		}
	}
	clk.now = clk.now.Add(time.Minute)
	n := d.Signed()
	for i := 0; b.Loop(); i++ {
		if _, err := d.Document(as[i%len(as)]); err != nil {
			b.Fatal(err)
		}
	}
	if d.Signed() != n {
		b.Fatal("a cached document was re-signed")
	}
}
