package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sextant-ml/sextant/clock"
)

// ChangeCurrent is the change channel of current-version moves; its
// payload is the model.
const ChangeCurrent = "sextant_current"

// notifyLocked announces a change to other replicas when tx commits
// (PostgreSQL NOTIFY; nothing on SQLite, which one process owns).
func (db *DB) notifyLocked(ctx context.Context, tx *sql.Tx, channel, payload string) error {
	if db.d.name != "postgres" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return err
}

// ListenChanges calls fn with each change another replica (or this one)
// commits on channel, until ctx ends: PostgreSQL LISTEN on a connection
// of its own, re-established after a failure. Changes may have been missed
// while the connection was down, so fn is also called with payload "" when
// (re)connected: treat that as "anything may have changed". On SQLite it
// returns at once (every change is made by this process).
func (db *DB) ListenChanges(ctx context.Context, channel string, fn func(payload string)) error {
	if db.d.name != "postgres" {
		return nil
	}
	for {
		err := db.listenOnce(ctx, channel, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_ = err // the connection failed: retry after a pause
		if err := clock.Real.Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, channel string, fn func(string)) error {
	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		return fmt.Errorf("store: listen: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("store: listen %s: %w", channel, err)
	}
	fn("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("store: listen %s: %w", channel, err)
		}
		fn(n.Payload)
	}
}
