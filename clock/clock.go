// Package clock is the one source of time for every Sextant package that
// waits or expires: bake times, metadata expiry, backoff, round deadlines,
// per-day privacy budgets (DESIGN.md, "Contracts": time).
//
// Code takes a Clock instead of calling time.Now or time.After. Production
// passes Real; tests run under testing/synctest, whose bubbles already fake
// the time package, so Real is right there too; the demo passes a Scaled
// clock that compresses simulated days into real minutes. Compute time
// measured on a device is always real time (or, in the fleet simulator, a
// device-profile latency model), never a Clock's.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d to pass on this clock, or for ctx to end, whichever
	// is first, returning ctx's error in the second case.
	Sleep(ctx context.Context, d time.Duration) error
	// After returns a channel that receives the clock's time once d has
	// passed on it.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Scaled is a clock that runs Factor times faster than the wall clock from
// Start: with Factor 720, a simulated day passes in two real minutes. It is
// safe for concurrent use.
type Scaled struct {
	mu     sync.Mutex
	start  time.Time // simulated time at origin
	origin time.Time // wall time when the clock started
	factor float64
}

// NewScaled returns a clock showing start now and running factor times
// faster than real time (factor ≥ 1).
func NewScaled(start time.Time, factor float64) *Scaled {
	if factor < 1 {
		factor = 1
	}
	return &Scaled{start: start, origin: time.Now(), factor: factor}
}

// Now returns the simulated time.
func (s *Scaled) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start.Add(time.Duration(float64(time.Since(s.origin)) * s.factor))
}

// real converts a simulated duration to wall time.
func (s *Scaled) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.factor)
}

// Sleep waits d of simulated time.
func (s *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	return Real.Sleep(ctx, s.real(d))
}

// After delivers the simulated time once d of it has passed.
func (s *Scaled) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	time.AfterFunc(s.real(d), func() { ch <- s.Now() })
	return ch
}
