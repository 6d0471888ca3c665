package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/lease"
)

// checkFence refuses, inside tx, a write whose context carries a fence
// (lease.WithFence) that is no longer its lease's epoch. On PostgreSQL it
// holds a share lock on the lease row until tx ends, so a replica taking
// the lease over (which updates the row) waits for the write to commit:
// every fenced write lands before the new epoch or is refused after it.
// A write without a fence is not checked.
func (db *DB) checkFence(ctx context.Context, tx *sql.Tx) error {
	f, ok := lease.FenceFrom(ctx)
	if !ok {
		return nil
	}
	q := `SELECT epoch FROM leases WHERE name = $1`
	if db.d.name == "postgres" {
		q += ` FOR SHARE`
	}
	var epoch int64
	err := tx.QueryRowContext(ctx, q, f.Name).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: lease %s was never granted: %w", f.Name, lease.ErrStale)
	}
	if err != nil {
		return fmt.Errorf("store: check lease %s: %w", f.Name, err)
	}
	if epoch != f.Epoch {
		return fmt.Errorf("store: write at epoch %d of lease %s, which is at %d: %w", f.Epoch, f.Name, epoch, lease.ErrStale)
	}
	return nil
}
