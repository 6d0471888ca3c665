package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// defaultPostgres is this machine's PostgreSQL service (trust auth,
// database test); SEXTANT_TEST_POSTGRES overrides it.
const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

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
	base := os.Getenv("SEXTANT_TEST_POSTGRES")
	if base == "" {
		base = defaultPostgres
	}
	admin, err := openAdmin(t.Context(), base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required in CI: %v", redact(base), err)
		}
		t.Skipf("PostgreSQL unreachable at %s (set SEXTANT_TEST_POSTGRES): %v", redact(base), err)
	}
	t.Cleanup(func() { admin.Close() })
	runSuite(t, func(t *testing.T) string {
		return freshSchema(t, admin, base)
	})
}

func openAdmin(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 5 * time.Second
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// freshSchema creates schema sx_test_<random>, drops it when t ends, and
// returns a DSN whose search_path selects it.
func freshSchema(t *testing.T, admin *sql.DB, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "sx_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
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
