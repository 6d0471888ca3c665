package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/delivery"
)

// LoadTelemetryAggregate returns the committed aggregate of a telemetry
// stream and its version; a stream never committed has version 0 and a
// nil document.
func (db *DB) LoadTelemetryAggregate(ctx context.Context, stream string) (uint64, []byte, error) {
	var version int64
	var doc string
	err := db.db.QueryRowContext(ctx, `SELECT version, document FROM telemetry_aggregates WHERE stream = $1`, stream).Scan(&version, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store: load telemetry aggregate %s: %w", stream, err)
	}
	return uint64(version), []byte(doc), nil
}

// SaveTelemetryAggregate commits a stream's aggregate as version. The
// version must move forward: a commit at or behind the stored one (two
// aggregators racing) is refused with delivery.ErrConflict, as is one
// whose context carries a stale lease fence (lease.ErrStale).
func (db *DB) SaveTelemetryAggregate(ctx context.Context, stream string, version uint64, doc []byte) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO telemetry_aggregates (stream, version, document, updated_us)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (stream) DO UPDATE SET version = excluded.version, document = excluded.document,
				updated_us = excluded.updated_us
			WHERE telemetry_aggregates.version < excluded.version`,
			stream, int64(version), string(doc), micros(db.clock.Now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return delivery.Errorf(delivery.ErrConflict, "telemetry aggregate %s is already at or past version %d", stream, version)
		}
		return nil
	})
	if err != nil && delivery.Code(err) == "internal" {
		return fmt.Errorf("store: save telemetry aggregate %s: %w", stream, err)
	}
	return err
}
