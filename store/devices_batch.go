package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/delivery"
)

// MaxCredentialBatch bounds how many credential hashes one
// DevicesByCredentials call may ask for.
const MaxCredentialBatch = 512

// DevicesByCredentials looks up many devices by credential hash in one
// query, for a server coalescing the cache misses of concurrent first
// check-ins. The result maps each found hash to its device; unknown hashes
// are absent.
func (db *DB) DevicesByCredentials(ctx context.Context, hashes []string) (map[string]delivery.Device, error) {
	if len(hashes) == 0 {
		return map[string]delivery.Device{}, nil
	}
	if len(hashes) > MaxCredentialBatch {
		return nil, fmt.Errorf("store: devices by credential: %d hashes, at most %d", len(hashes), MaxCredentialBatch)
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + deviceCols + ` FROM devices WHERE credential_hash IN (`)
	args := make([]any, len(hashes))
	for i, h := range hashes {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("$" + strconv.Itoa(i+1))
		args[i] = h
	}
	q.WriteByte(')')
	rows, err := db.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("store: devices by credential: %w", err)
	}
	defer rows.Close()
	out := make(map[string]delivery.Device, len(hashes))
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: devices by credential: %w", err)
		}
		out[d.CredentialHash] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: devices by credential: %w", err)
	}
	return out, nil
}

// RecentDevices calls fn with up to limit devices that have checked in,
// most recently checked in first, until fn returns false: what a starting server pre-loads into its
// device cache. It scans the table once (no index on the check-in time,
// which would cost every stamp an index update).
func (db *DB) RecentDevices(ctx context.Context, limit int, fn func(delivery.Device) bool) error {
	if limit <= 0 {
		return nil
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices
		WHERE last_checkin_us > 0 ORDER BY last_checkin_us DESC LIMIT $1`, limit)
	if err != nil {
		return fmt.Errorf("store: recent devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return fmt.Errorf("store: recent devices: %w", err)
		}
		if !fn(d) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: recent devices: %w", err)
	}
	return nil
}
