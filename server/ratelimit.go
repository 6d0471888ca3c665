package server

import (
	"math"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
)

// Rate is a token bucket's refill rate and capacity.
type Rate struct {
	// PerSecond is the sustained rate; Burst the most requests allowed at
	// once. A zero PerSecond disables the limit.
	PerSecond float64
	Burst     int
}

// limiter keeps one token bucket per key (a token ID, a device ID) in
// memory, for at most max keys.
//
// Backpressure policy: when the map is full, buckets that have refilled
// completely (idle keys, which lose nothing by being forgotten) are
// dropped; if none has, an arbitrary bucket is dropped. A dropped key
// starts again with a full bucket, so eviction can only make the limit more
// lenient for that key, never refuse a request that should pass.
type limiter struct {
	rate Rate
	clk  clock.Clock
	max  int

	// mu guards buckets.
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r Rate, clk clock.Clock, max int) *limiter {
	if max <= 0 {
		max = 100_000
	}
	return &limiter{rate: r, clk: clk, max: max, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket. When it is empty it reports false
// and how long until a token is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil || l.rate.PerSecond <= 0 {
		return true, 0
	}
	now := l.clk.Now()
	burst := float64(max(l.rate.Burst, 1))
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evictLocked(now, burst)
		}
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(burst, b.tokens+dt*l.rate.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate.PerSecond * float64(time.Second))
	return false, wait
}

// evictLocked makes room for one bucket: first every full (idle) bucket,
// else one arbitrary bucket.
func (l *limiter) evictLocked(now time.Time, burst float64) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate.PerSecond >= burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	for k := range l.buckets {
		delete(l.buckets, k)
		return
	}
}

// size reports how many buckets are held (for tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

const timeMinute = time.Minute
