package peer

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Series times runs consecutive runs of f alone (no other runtime in
// between), after warmup untimed ones, rotating over sets input sets, each
// run timed on its own with the monotonic clock and the garbage collector
// off; allocations are counted over the whole series. It is the tail-latency
// measurement (issue 3: p99 ≤ 2× p50 over 10⁴ runs on one pinned core).
func Series(f func(set int) error, runs, warmup, sets int) (Stats, error) {
	sets = max(sets, 1)
	for i := range warmup {
		if err := f(i % sets); err != nil {
			return Stats{}, err
		}
	}
	lat := make([]time.Duration, runs)
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.Mallocs
	for i := range lat {
		t0 := time.Now()
		err := f(i % sets)
		lat[i] = time.Since(t0)
		if err != nil {
			return Stats{}, err
		}
	}
	runtime.ReadMemStats(&ms)
	return summarize(lat, ms.Mallocs-before), nil
}
