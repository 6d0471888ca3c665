package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/internal/pgtest"
)

// TestStoreSQLite runs the store suite on SQLite files.
func TestStoreSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "sextant.db")
	})
}

// TestStorePostgres runs the same suite on PostgreSQL, each test in a fresh
// schema that is dropped afterwards. Without a reachable server it skips,
// except under CI=true, where it fails.
func TestStorePostgres(t *testing.T) {
	runSuite(t, func(t *testing.T) string { return pgtest.Schema(t) })
}

// testClock is a manual clock: it moves only when the test says.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *testClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}
