package clock

import (
	"context"
	"sync"
	"time"
)

// Manual is a clock that moves only when told (Advance): the demo steps
// its simulated days with it, so a rollout's bake times and a privacy
// budget's days follow the story rather than the wall clock. Sleep and
// After wait until Advance carries the clock past their deadline. It is
// safe for concurrent use.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewManual returns a clock showing start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d (a negative d is ignored) and wakes
// the sleepers whose deadline it passed.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d > 0 {
		m.now = m.now.Add(d)
	}
	keep := m.waiters[:0]
	for _, w := range m.waiters {
		if !w.at.After(m.now) {
			w.ch <- m.now
			continue
		}
		keep = append(keep, w)
	}
	m.waiters = keep
}

// After delivers the clock's time once Advance has moved it d forward.
func (m *Manual) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if d <= 0 {
		ch <- m.now
		return ch
	}
	m.waiters = append(m.waiters, manualWaiter{at: m.now.Add(d), ch: ch})
	return ch
}

// Sleep waits until Advance has moved the clock d forward, or ctx ends.
func (m *Manual) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-m.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
