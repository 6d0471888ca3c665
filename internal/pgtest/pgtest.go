// Package pgtest gives tests their own PostgreSQL schema on this machine's
// server, so packages that share it can run in parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Default is this machine's PostgreSQL service (trust auth, database
// test); SEXTANT_TEST_POSTGRES overrides it.
const Default = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Base returns the PostgreSQL URL tests use.
func Base() string {
	if s := os.Getenv("SEXTANT_TEST_POSTGRES"); s != "" {
		return s
	}
	return Default
}

// Schema creates schema sx_test_<random>, drops it when t ends, and
// returns a URL whose search_path selects it. Without a reachable server
// it skips t, except under CI=true, where it fails.
func Schema(t testing.TB) string {
	t.Helper()
	base := Base()
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	admin := stdlib.OpenDB(*cfg)
	if err := admin.PingContext(t.Context()); err != nil {
		admin.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required in CI: %v", redact(base), err)
		}
		t.Skipf("PostgreSQL unreachable at %s (set SEXTANT_TEST_POSTGRES): %v", redact(base), err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "sx_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
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

// DB opens dsn with database/sql for a test's own queries; it is closed
// when t ends.
func DB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

// redact hides a password in a URL before it reaches a test's log.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	return u.Redacted()
}
