package peer

import (
	"runtime"
	"runtime/debug"
	"slices"
	"time"
)

// Config sets how Alternate and AlternateN measure.
type Config struct {
	// Iterations caps the timed runs per runtime.
	Iterations int
	// MinIterations is the floor on timed runs per runtime, whatever Budget
	// says.
	MinIterations int
	// Budget is the time the timed runs of both runtimes should take
	// together: it lowers the planned run count below Iterations for slow
	// models (from the warm-up's run times), and timing stops once that much
	// wall-clock time has passed (after MinIterations), so a loaded machine
	// does not stretch the run.
	Budget time.Duration
	// Warmup runs per runtime before timing (they also estimate run time).
	Warmup int
	// Sets is the number of input sets runs rotate over.
	Sets int
}

// Stats summarizes one runtime's timed runs on one model.
type Stats struct {
	Runs         int     `json:"runs"`
	P50US        float64 `json:"p50_us"`
	P99US        float64 `json:"p99_us"`
	MeanUS       float64 `json:"mean_us"`
	MinUS        float64 `json:"min_us"`
	AllocsPerRun float64 `json:"allocs_per_run"`
}

// Alternate measures a and b, two runs of the same model on different
// runtimes, each taking the input set to use: AlternateN with two.
func Alternate(a, b func(set int) error, cfg Config) (sa, sb Stats, err error) {
	st, err := AlternateN([]func(set int) error{a, b}, cfg)
	if err != nil {
		return sa, sb, err
	}
	return st[0], st[1], nil
}

// AlternateN measures fs, runs of the same model on different runtimes (or
// variants of one), each taking the input set to use. After a warm-up it
// times them in alternating blocks (fs in order, then in reverse order, ...)
// so drift in machine load and clock speed falls on all alike. Every run is
// timed on its own with the monotonic clock (time.Now before and after, for
// every runtime), and runs rotate over cfg.Sets input sets. cfg.Budget is the
// time of all of them together. Go heap allocations are counted per block,
// outside the timed region; the garbage collector is off while timing and
// runs between models instead.
func AlternateN(fs []func(set int) error, cfg Config) ([]Stats, error) {
	if cfg.Sets < 1 {
		cfg.Sets = 1
	}
	k := make([]int, len(fs)) // runs so far, per function
	est := func(f func(int) error, k *int) (time.Duration, error) {
		lat := make([]time.Duration, max(cfg.Warmup, 1))
		for i := range lat {
			t0 := time.Now()
			if err := f(*k % cfg.Sets); err != nil {
				return 0, err
			}
			lat[i] = time.Since(t0)
			*k++
		}
		slices.Sort(lat)
		return lat[len(lat)/2], nil
	}
	var per time.Duration
	for i, f := range fs {
		t, err := est(f, &k[i])
		if err != nil {
			return nil, err
		}
		per += t
	}
	n := cfg.Iterations
	if per > 0 && cfg.Budget > 0 {
		n = min(n, int(cfg.Budget/per))
	}
	n = max(n, cfg.MinIterations, 1)
	block := min(max(n/20, 1), 200)

	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	lat := make([][]time.Duration, len(fs))
	for i := range lat {
		lat[i] = make([]time.Duration, 0, n)
	}
	mallocs := make([]uint64, len(fs))
	timeBlock := func(i, count int) error {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		for range count {
			set := k[i] % cfg.Sets
			t0 := time.Now()
			err := fs[i](set)
			d := time.Since(t0)
			if err != nil {
				return err
			}
			lat[i] = append(lat[i], d)
			k[i]++
		}
		runtime.ReadMemStats(&ms)
		mallocs[i] += ms.Mallocs - before
		return nil
	}
	start := time.Now()
	for round := 0; len(fs) > 0 && len(lat[0]) < n; round++ {
		done := len(lat[0])
		if cfg.Budget > 0 && done >= cfg.MinIterations && done > 0 && time.Since(start) > cfg.Budget {
			break
		}
		c := min(block, n-done)
		for j := range fs {
			i := j
			if round%2 == 1 {
				i = len(fs) - 1 - j
			}
			if err := timeBlock(i, c); err != nil {
				return nil, err
			}
		}
	}
	st := make([]Stats, len(fs))
	for i := range fs {
		st[i] = summarize(lat[i], mallocs[i])
	}
	return st, nil
}

// summarize computes nearest-rank percentiles in µs.
func summarize(lat []time.Duration, mallocs uint64) Stats {
	s := Stats{Runs: len(lat)}
	if len(lat) == 0 {
		return s
	}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	s.P50US = us(percentile(sorted, 50))
	s.P99US = us(percentile(sorted, 99))
	s.MinUS = us(sorted[0])
	s.MeanUS = us(sum) / float64(len(sorted))
	s.AllocsPerRun = float64(mallocs) / float64(len(lat))
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
