package peer

import (
	"errors"
	"testing"
	"time"
)

// TestSeries checks the run count, the rotation over input sets, the
// percentiles (one slow run in 100 shows in p99, not p50) and error
// propagation.
func TestSeries(t *testing.T) {
	var seen []int
	calls := 0
	st, err := Series(func(set int) error {
		calls++
		seen = append(seen, set)
		if calls == 3+50 { // one timed run of 100 is slow
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}, 100, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 103 || st.Runs != 100 {
		t.Fatalf("%d calls, %d runs; want 103 and 100", calls, st.Runs)
	}
	for i, s := range seen[3:] {
		if s != i%4 {
			t.Fatalf("timed run %d used set %d, want %d", i, s, i%4)
		}
	}
	if st.P50US >= 1000 || st.P99US >= 1000 || st.MeanUS < 50 {
		t.Errorf("p50 %v µs, p99 %v µs, mean %v µs: want p99 below the one 5 ms run, the mean above 50 µs", st.P50US, st.P99US, st.MeanUS)
	}
	boom := errors.New("boom")
	if _, err := Series(func(int) error { return boom }, 10, 0, 1); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
}
