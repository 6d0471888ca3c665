package sim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Run simulates a fleet of cfg.Devices real SDK instances against an
// in-process server: enrol, install v1, predict; publish v2 and roll it out
// in check-in rounds; predict again. It returns the report, or an error
// when the server or the bundles cannot be set up or ctx ends. Device
// failures (a refused install, a failed prediction) are counted in the
// report, not returned.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Devices: cfg.Devices, Seed: cfg.Seed, Profiles: map[string]int{}, Latency: map[string]*LatencyStats{}}
	prog := func(p Progress) {
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
	}
	stopMem := sampleHeap(&rep.PeakHeapBytes)
	defer stopMem()

	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sextant-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	prog(Progress{Phase: "setup"})
	t0 := time.Now()
	v1, err := buildBundle(ctx, "1.0.0", "", 1)
	if err != nil {
		return nil, err
	}
	v2, err := buildBundle(ctx, "1.1.0", "1.0.0", 1.01)
	if err != nil {
		return nil, err
	}
	rep.BundleBytes = map[string]int{v1.version: len(v1.data), v2.version: len(v2.data)}
	hc := newHTTPClient(cfg.Concurrency)
	defer hc.CloseIdleConnections()
	b, err := startBackend(ctx, filepath.Join(dir, "server"), cfg.Clock, hc, cfg.Logger, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if b != nil {
			b.stop()
		}
	}()
	if err := b.publish(ctx, ModelName, v1.version, v1.data, true); err != nil {
		return nil, err
	}
	rep.Phases = append(rep.Phases, Phase{"setup", time.Since(t0)})

	// Enrol and install v1.
	devs := make([]*device, cfg.Devices)
	pickRNG := rand.New(rand.NewPCG(cfg.Seed, 0x5e7a))
	var mu sync.Mutex
	var setupErrs []error
	// Predictions run at most one per CPU, so that the host latency they
	// measure is not inflated by waiting for a core.
	predictConc := min(cfg.Concurrency, runtime.GOMAXPROCS(0))
	phase := func(name string, idx []int, fn func(d **device, i int) error) error {
		t0 := time.Now()
		done := 0
		conc := cfg.Concurrency
		if strings.HasPrefix(name, "predict") {
			conc = predictConc
		}
		err := fleet(ctx, conc, idx, func(i int) error {
			err := fn(&devs[i], i)
			mu.Lock()
			done++
			prog(Progress{Phase: name, Done: done, Total: len(idx)})
			mu.Unlock()
			return err
		})
		rep.Phases = append(rep.Phases, Phase{name, time.Since(t0)})
		return err
	}
	all := make([]int, cfg.Devices)
	for i := range all {
		all[i] = i
	}
	units := make([]float64, cfg.Devices)
	for i := range units {
		units[i] = pickRNG.Float64()
	}
	err = phase("enroll", all, func(d **device, i int) error {
		p := cfg.pick(units[i])
		nd, err := enroll(ctx, b, hc, cfg.Clock, filepath.Join(dir, "devices", fmt.Sprint(i)), i, p, cfg.Seed)
		if err != nil {
			mu.Lock()
			setupErrs = append(setupErrs, err)
			mu.Unlock()
			return nil
		}
		*d = nd
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(setupErrs) > 0 {
		return nil, fmt.Errorf("sim: %d of %d devices failed to enrol: %w", len(setupErrs), cfg.Devices, errors.Join(setupErrs[:min(3, len(setupErrs))]...))
	}
	for _, d := range devs {
		rep.Profiles[d.profile.Name]++
	}
	rep.Enrolled = len(devs)
	if err := phase("install-v1", all, func(d **device, _ int) error { (*d).checkIn(ctx, ModelName); return nil }); err != nil {
		return nil, err
	}
	rep.OnV1 = count(devs, v1.version)
	if err := phase("predict-v1", all, func(d **device, _ int) error {
		if (*d).versions[ModelName] != "" {
			(*d).predict(ctx, cfg.Predictions, v1.input)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	// Publish v2 and roll it out in check-in rounds.
	t0 = time.Now()
	prog(Progress{Phase: "publish-v2"})
	if err := b.publish(ctx, ModelName, v2.version, v2.data, true); err != nil {
		return nil, err
	}
	rep.Phases = append(rep.Phases, Phase{"publish-v2", time.Since(t0)})
	t0 = time.Now()
	roundRNG := rand.New(rand.NewPCG(cfg.Seed, 0xc4ec))
	rep.Convergence = []Round{{Round: 0, OnV2: count(devs, v2.version), Fraction: fraction(devs, v2.version)}}
	rep.RoundsToConverge = -1
	for r := 1; r <= cfg.MaxRounds; r++ {
		var idx []int
		for i := range devs {
			if roundRNG.Float64() < cfg.CheckInProb {
				idx = append(idx, i)
			}
		}
		if err := fleet(ctx, cfg.Concurrency, idx, func(i int) error { devs[i].checkIn(ctx, ModelName); return nil }); err != nil {
			return nil, err
		}
		on := count(devs, v2.version)
		rep.Convergence = append(rep.Convergence, Round{Round: r, SimTime: time.Duration(r) * cfg.RoundInterval, CheckIns: len(idx),
			OnV2: on, Fraction: float64(on) / float64(len(devs))})
		prog(Progress{Phase: "rollout-v2", Done: r, Total: cfg.MaxRounds, OnV2: float64(on) / float64(len(devs))})
		if on == len(devs) {
			rep.RoundsToConverge = r
			break
		}
	}
	rep.Phases = append(rep.Phases, Phase{"rollout-v2", time.Since(t0)})
	if err := phase("predict-v2", all, func(d **device, _ int) error {
		if (*d).versions[ModelName] != "" {
			(*d).predict(ctx, cfg.Predictions, v2.input)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	// Tally.
	rep.OnV2 = count(devs, v2.version)
	perProfile := map[string][]time.Duration{}
	speed := map[string]float64{}
	for _, d := range devs {
		rep.Installs += d.installs
		rep.InstallFailures += d.failures
		if d.lastErr != nil && len(rep.FailureSamples) < 5 {
			rep.FailureSamples = append(rep.FailureSamples, fmt.Sprintf("device %d: %v", d.index, d.lastErr))
		}
		rep.Predictions += len(d.latencies)
		rep.PredictionFailures += d.predFails
		rep.BytesDownloaded += d.up.Fetched()
		perProfile[d.profile.Name] = append(perProfile[d.profile.Name], d.latencies...)
		speed[d.profile.Name] = d.profile.SpeedFactor
	}
	for name, lat := range perProfile {
		rep.Latency[name] = latencyStats(lat, speed[name])
	}
	rep.DiskBytes = dirBytes(filepath.Join(dir, "devices"))
	err = b.stop()
	b = nil
	if err != nil {
		return nil, fmt.Errorf("sim: server shutdown: %w", err)
	}
	rep.Wall = time.Since(start)
	stopMem()
	prog(Progress{Phase: "done", Done: 1, Total: 1})
	return rep, nil
}

// fleet runs fn(i) for each i in idx with at most n at once; it stops
// handing out work when ctx ends and returns ctx's error then.
func fleet(ctx context.Context, n int, idx []int, fn func(i int) error) error {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, i := range idx {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func count(devs []*device, version string) int {
	n := 0
	for _, d := range devs {
		if d.versions[ModelName] == version {
			n++
		}
	}
	return n
}

func fraction(devs []*device, version string) float64 {
	if len(devs) == 0 {
		return 0
	}
	return float64(count(devs, version)) / float64(len(devs))
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// sampleHeap records the peak of the Go heap in use into *peak every
// 100 ms until the returned function is called.
func sampleHeap(peak *uint64) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	read := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*peak = max(*peak, ms.HeapInuse)
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				read()
			case <-done:
				read()
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}
