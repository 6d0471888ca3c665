package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
)

// DB is a delivery.Store over SQLite or PostgreSQL. It is safe for
// concurrent use.
type DB struct {
	db    *sql.DB
	d     *dialect
	clock clock.Clock
	dsn   string // for connections of its own (notify.go)
}

var _ delivery.Store = (*DB)(nil)

// Option configures Open.
type Option func(*DB)

// WithClock sets the clock that stamps creation, publish, check-in and
// audit times (default clock.Real).
func WithClock(c clock.Clock) Option { return func(db *DB) { db.clock = c } }

// Open connects to the database named by dsn and applies pending
// migrations. dsn is "sqlite:PATH" (a file, created if absent;
// "sqlite::memory:" for a private in-memory database) or a PostgreSQL URL
// "postgres://…" / "postgresql://…" (pgx syntax; a search_path parameter
// selects the schema).
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	db := &DB{clock: clock.Real, dsn: dsn}
	for _, o := range opts {
		o(db)
	}
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		db.d = sqliteDialect
		db.db, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.d = postgresDialect
		db.db, err = openPostgres(dsn)
	default:
		return nil, fmt.Errorf("store: unknown database %q: want sqlite:PATH or postgres://…", redact(dsn))
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", db.d.name, err)
	}
	if err := db.db.PingContext(ctx); err != nil {
		db.db.Close()
		return nil, fmt.Errorf("store: connect to %s %s: %w", db.d.name, redact(dsn), err)
	}
	if err := db.migrate(ctx); err != nil {
		db.db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// Dialect names the backend: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.name }

func openSQLite(path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	memory := path == ":memory:"
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	if !memory {
		// WAL lets readers run beside the one writer.
		q.Add("_pragma", "journal_mode(WAL)")
	}
	// Every transaction takes the write lock up front, so two publishers
	// never both read the same latest version.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if memory {
		// Each connection to :memory: is its own database: keep one.
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(8)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// redact hides a password in a DSN before it reaches an error message.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
