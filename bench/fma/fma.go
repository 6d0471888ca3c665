// Package fma measures one core's peak single-precision FMA throughput, so
// GEMM efficiency can be quoted as a ratio of two measurements taken in the
// same process on the same core.
//
// The measurement runs a register-resident loop of independent fused
// multiply-adds (no loads or stores inside the loop), long enough to reach
// the core's steady clock, and keeps the best of several repetitions. On
// amd64 it times both 256-bit (YMM) and, where the CPU and OS support
// AVX-512, 512-bit (ZMM) forms and reports the faster: some cores (AMD Zen 4)
// split a ZMM FMA into two halves, others (Intel server cores with two
// AVX-512 FMA units) double their throughput with it. Each loop keeps twelve
// accumulators, more than FMA latency × FMA ports on current cores (4 × 2),
// so the loop is bound by throughput, not by a dependency chain.
package fma

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnsupported is returned where no FMA loop exists for the CPU.
var ErrUnsupported = errors.New("fma: no FMA loop for this CPU")

// Peak is one measurement.
type Peak struct {
	// FLOPS is the best floating-point rate seen, in FLOP/s (an FMA counts
	// as two).
	FLOPS float64
	// Width names the vector form that reached it, e.g. "ymm" or "zmm".
	Width string
	// Rates holds the best rate of every form tried.
	Rates map[string]float64
}

func (p Peak) String() string {
	return fmt.Sprintf("%.1f GFLOP/s (%s)", p.FLOPS/1e9, p.Width)
}

// loop is one vector form: run performs iters loop iterations, each of
// flopsPerIter floating-point operations.
type loop struct {
	name         string
	flopsPerIter float64
	run          func(iters int)
}

// Measure times every available loop for about d each, in reps repetitions,
// and returns the best rate. The caller should be pinned to the core it
// wants to measure (runtime.LockOSThread and an affinity mask).
func Measure(d time.Duration, reps int) (Peak, error) {
	loops := available()
	if len(loops) == 0 {
		return Peak{}, ErrUnsupported
	}
	if reps < 1 {
		reps = 1
	}
	p := Peak{Rates: map[string]float64{}}
	for _, l := range loops {
		iters := calibrate(l, d)
		best := 0.0
		for range reps {
			t0 := time.Now()
			l.run(iters)
			el := time.Since(t0).Seconds()
			if r := l.flopsPerIter * float64(iters) / el; r > best {
				best = r
			}
		}
		p.Rates[l.name] = best
		if best > p.FLOPS {
			p.FLOPS, p.Width = best, l.name
		}
	}
	return p, nil
}

// calibrate finds an iteration count that takes about d.
func calibrate(l loop, d time.Duration) int {
	iters := 1 << 12
	for {
		t0 := time.Now()
		l.run(iters)
		el := time.Since(t0)
		if el >= d/4 || iters >= 1<<40 {
			scale := float64(d) / float64(max(el, time.Microsecond))
			return max(1, int(float64(iters)*scale))
		}
		iters *= 4
	}
}
