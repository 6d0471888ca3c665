package store

import (
	"context"
	"encoding/json"
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

// upsertRows is how many rows one UpsertCheckIns statement writes: 3
// parameters each plus one, far within PostgreSQL's 65,535 and SQLite's
// 32,766.
const upsertRows = 1000

// UpsertCheckIns records many check-ins with one multi-row INSERT … ON
// CONFLICT per upsertRows devices. Each device names its ID, the hash of
// the credential it authenticated with and the attributes it reported
// (its times are ignored): an existing device's attributes and
// last check-in (at the database's clock) are replaced, its credential
// hash and registration time kept; a device without a row — its
// registration was lost, or it was enrolled by a credential alone — is
// registered now with the credential hash given. A device listed twice
// is recorded once, with its last entry. Each statement commits on its
// own. A row whose credential hash belongs to another device is skipped,
// the others recorded, and the error (ErrConflict) counts the skipped.
func (db *DB) UpsertCheckIns(ctx context.Context, cs []delivery.Device) error {
	if len(cs) == 0 {
		return nil
	}
	last := make(map[string]int, len(cs))
	for i, c := range cs {
		if c.ID == "" || !delivery.ValidSHA256(c.CredentialHash) {
			return delivery.Errorf(delivery.ErrInvalid, "check-in of device %q: no id or no SHA-256 credential hash", c.ID)
		}
		last[c.ID] = i
	}
	rows := make([]delivery.Device, 0, len(last))
	for i, c := range cs {
		if last[c.ID] == i {
			rows = append(rows, c)
		}
	}
	now := micros(db.now())
	skipped := 0
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), upsertRows)]
		rows = rows[len(chunk):]
		err := db.upsertCheckIns(ctx, now, chunk)
		if db.d.isUnique(err) {
			// Another device holds one of these credential hashes: find
			// it by writing the rows one at a time.
			err = nil
			for _, c := range chunk {
				if rerr := db.upsertCheckIns(ctx, now, []delivery.Device{c}); db.d.isUnique(rerr) {
					skipped++
				} else if rerr != nil {
					err = rerr
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("store: upsert %d check-ins: %w", len(chunk), err)
		}
	}
	if skipped > 0 {
		return delivery.Errorf(delivery.ErrConflict, "%d check-ins skipped: their credential belongs to another device", skipped)
	}
	return nil
}

func (db *DB) upsertCheckIns(ctx context.Context, now int64, rows []delivery.Device) error {
	var q strings.Builder
	q.Grow(128 + 24*len(rows))
	q.WriteString(`INSERT INTO devices (` + deviceCols + `) VALUES `)
	args := make([]any, 1, 1+3*len(rows))
	args[0] = now
	for i, c := range rows {
		attrs, err := json.Marshal(c.Attributes)
		if err != nil {
			return err
		}
		if i > 0 {
			q.WriteByte(',')
		}
		n := len(args)
		fmt.Fprintf(&q, "($%d,$%d,$%d,$1,$1)", n+1, n+2, n+3)
		args = append(args, c.ID, c.CredentialHash, string(attrs))
	}
	q.WriteString(` ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, last_checkin_us = excluded.last_checkin_us`)
	_, err := db.db.ExecContext(ctx, q.String(), args...)
	return err
}
