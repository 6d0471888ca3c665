package peer

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i + 1)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0, 1}} {
		if got := percentile(s, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one sample = %v", got)
	}
}

// TestAlternate checks run counts, input rotation, alternation and the
// allocation count with two fake runtimes.
func TestAlternate(t *testing.T) {
	var order []byte
	seenA := map[int]int{}
	var sink [][]byte
	a := func(set int) error {
		order = append(order, 'a')
		seenA[set]++
		return nil
	}
	b := func(set int) error {
		order = append(order, 'b')
		sink = append(sink, make([]byte, 64)) // one allocation per run
		return nil
	}
	cfg := Config{Iterations: 400, Budget: time.Minute, Warmup: 4, Sets: 16}
	sa, sb, err := Alternate(a, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Runs != 400 || sb.Runs != 400 {
		t.Fatalf("runs %d, %d; want 400 each", sa.Runs, sb.Runs)
	}
	for set := range 16 {
		if seenA[set] != (400+4)/16 && seenA[set] != (400+4)/16+1 {
			t.Errorf("set %d used %d times", set, seenA[set])
		}
	}
	// Timed part: 20 blocks of 20, order a b, b a, a b, ...
	timed := string(order[8:])
	if timed[:40] != string(repeat('a', 20))+string(repeat('b', 20)) ||
		timed[40:80] != string(repeat('b', 20))+string(repeat('a', 20)) {
		t.Errorf("runs not alternated in blocks: %s...", timed[:80])
	}
	if sa.AllocsPerRun > 0.1 {
		t.Errorf("a allocs/run %v, want ~0", sa.AllocsPerRun)
	}
	if sb.AllocsPerRun < 0.9 || sb.AllocsPerRun > 1.5 {
		t.Errorf("b allocs/run %v, want ~1", sb.AllocsPerRun)
	}
	if sa.P50US < 0 || sa.P99US < sa.P50US || sa.MinUS > sa.P50US {
		t.Errorf("bad stats %+v", sa)
	}
}

// TestAlternateBudget checks that a slow pair gets fewer runs, but no fewer
// than MinIterations.
func TestAlternateBudget(t *testing.T) {
	slow := func(int) error { time.Sleep(time.Millisecond); return nil }
	sa, sb, err := Alternate(slow, slow, Config{Iterations: 10000, MinIterations: 5, Budget: 20 * time.Millisecond, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sa.Runs != sb.Runs || sa.Runs < 5 || sa.Runs > 10 {
		t.Fatalf("runs %d, %d under a 20 ms budget of ≥2 ms pairs", sa.Runs, sb.Runs)
	}
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

// TestAlternateWallClock checks that timing stops at the budget when runs
// turn out slower than the warm-up promised.
func TestAlternateWallClock(t *testing.T) {
	calls := 0
	slowing := func(int) error { // fast during warm-up, then 1 ms a run
		calls++
		if calls > 2 {
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	fast := func(int) error { return nil }
	t0 := time.Now()
	sa, sb, err := Alternate(slowing, fast, Config{Iterations: 100000, MinIterations: 10, Budget: 50 * time.Millisecond, Warmup: 2})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > time.Second {
		t.Errorf("took %v with a 50 ms budget", el)
	}
	if sa.Runs < 10 || sa.Runs != sb.Runs || sa.Runs > 1000 {
		t.Errorf("runs %d, %d", sa.Runs, sb.Runs)
	}
}
