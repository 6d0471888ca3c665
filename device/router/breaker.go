package router

import (
	"sync"
	"time"
)

// BreakerConfig tunes the circuit breaker on server calls.
type BreakerConfig struct {
	// Failures is the count of consecutive server failures that opens the
	// breaker (default 5).
	Failures int
	// Cooldown is how long it stays open before one probe may pass
	// (default 30 s); each failed probe doubles it, up to MaxCooldown
	// (default 10 min). A random ±20% jitter spreads a fleet's probes.
	Cooldown, MaxCooldown time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Failures <= 0 {
		c.Failures = 5
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Second
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = 10 * time.Minute
	}
	return c
}

// breaker is a consecutive-failure circuit breaker: closed, open until a
// time, then half-open with one probe in flight.
type breaker struct {
	cfg  BreakerConfig
	rand func() float64

	mu      sync.Mutex
	fails   int
	until   time.Time // zero when closed
	backoff time.Duration
	probing bool
}

// allow reports whether a server call may start now; a true answer while
// open is the half-open probe, which the caller must settle with done.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until.IsZero() {
		return true
	}
	if now.Before(b.until) || b.probing {
		return false
	}
	b.probing = true
	return true
}

// open reports whether the breaker is open (for Stats).
func (b *breaker) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.until.IsZero()
}

// done records a server call's outcome.
func (b *breaker) done(now time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasProbe := b.probing
	b.probing = false
	if ok {
		b.fails, b.until, b.backoff = 0, time.Time{}, 0
		return
	}
	b.fails++
	switch {
	case wasProbe:
		b.backoff = min(2*b.backoff, b.cfg.MaxCooldown)
	case b.until.IsZero() && b.fails >= b.cfg.Failures:
		b.backoff = b.cfg.Cooldown
	default:
		return
	}
	jitter := 0.8 + 0.4*b.rand()
	b.until = now.Add(time.Duration(float64(b.backoff) * jitter))
}
