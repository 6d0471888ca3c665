package messaging

import (
	"math/rand/v2"
	"testing"
)

// TestLedgerAnyOrder: sequences added in any order are seen exactly when
// added, and contiguous ones collapse to Low.
func TestLedgerAnyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + r.IntN(300)
		perm := r.Perm(n)
		var l Ledger
		added := map[uint64]bool{}
		for k, p := range perm {
			seq := uint64(p + 1)
			l.Add(seq)
			added[seq] = true
			if k%7 == 0 {
				for s := uint64(1); s <= uint64(n)+1; s++ {
					if l.Seen(s) != added[s] {
						t.Fatalf("trial %d after %d adds: Seen(%d) = %v, want %v (%+v)", trial, k+1, s, l.Seen(s), added[s], l)
					}
				}
			}
		}
		if l.Low != uint64(n) || len(l.Runs) != 0 {
			t.Fatalf("trial %d: all of 1..%d added, ledger %+v", trial, n, l)
		}
	}
}

// TestLedgerBounded: gaps never filled keep at most MaxLedgerRuns runs;
// the oldest fold into Low.
func TestLedgerBounded(t *testing.T) {
	var l Ledger
	for s := uint64(2); s < 2*3*MaxLedgerRuns; s += 2 {
		l.Add(s)
	}
	if len(l.Runs) != MaxLedgerRuns || !l.Seen(l.Low) || l.Seen(l.Low+1) && l.Low+1 < l.Runs[0].From {
		t.Fatalf("%d runs, low %d", len(l.Runs), l.Low)
	}
	last := uint64(2*3*MaxLedgerRuns - 2)
	if !l.Seen(last) || l.Seen(last-1) {
		t.Fatalf("recent sequences: seen(%d)=%v seen(%d)=%v", last, l.Seen(last), last-1, l.Seen(last-1))
	}
}
