package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/delivery"
)

const deviceCols = `id, credential_hash, attributes, registered_us, last_checkin_us`

func scanDevice(s interface{ Scan(...any) error }) (delivery.Device, error) {
	var d delivery.Device
	var attrs string
	var registered, checkin int64
	if err := s.Scan(&d.ID, &d.CredentialHash, &attrs, &registered, &checkin); err != nil {
		return d, err
	}
	d.RegisteredAt, d.LastCheckIn = fromMicros(registered), fromMicros(checkin)
	if err := json.Unmarshal([]byte(attrs), &d.Attributes); err != nil {
		return d, fmt.Errorf("attributes of device %q: %w", d.ID, err)
	}
	return d, nil
}

// RegisterDevice implements delivery.Devices.
func (db *DB) RegisterDevice(ctx context.Context, d delivery.Device) (delivery.Device, error) {
	if d.ID == "" {
		return delivery.Device{}, delivery.Errorf(delivery.ErrInvalid, "device has no id")
	}
	if !delivery.ValidSHA256(d.CredentialHash) {
		return delivery.Device{}, delivery.Errorf(delivery.ErrInvalid, "device credential hash is not a SHA-256")
	}
	attrs, err := json.Marshal(d.Attributes)
	if err != nil {
		return delivery.Device{}, fmt.Errorf("store: register device: %w", err)
	}
	d.RegisteredAt, d.LastCheckIn = db.now(), delivery.Device{}.LastCheckIn
	_, err = db.db.ExecContext(ctx, `INSERT INTO devices (`+deviceCols+`) VALUES ($1, $2, $3, $4, 0)`,
		d.ID, d.CredentialHash, string(attrs), micros(d.RegisteredAt))
	if db.d.isUnique(err) {
		return delivery.Device{}, delivery.Errorf(delivery.ErrConflict, "device %q or its credential exists", d.ID)
	}
	if err != nil {
		return delivery.Device{}, fmt.Errorf("store: register device %q: %w", d.ID, err)
	}
	return d, nil
}

// GetDevice implements delivery.Devices.
func (db *DB) GetDevice(ctx context.Context, id string) (delivery.Device, error) {
	d, err := scanDevice(db.db.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return delivery.Device{}, delivery.Errorf(delivery.ErrNotFound, "device %q not found", id)
	}
	if err != nil {
		return delivery.Device{}, fmt.Errorf("store: get device %q: %w", id, err)
	}
	return d, nil
}

// DeviceByCredential implements delivery.Devices.
func (db *DB) DeviceByCredential(ctx context.Context, hash string) (delivery.Device, error) {
	d, err := scanDevice(db.db.QueryRowContext(ctx,
		`SELECT `+deviceCols+` FROM devices WHERE credential_hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return delivery.Device{}, delivery.Errorf(delivery.ErrNotFound, "device not found")
	}
	if err != nil {
		return delivery.Device{}, fmt.Errorf("store: device by credential: %w", err)
	}
	return d, nil
}

// CheckIn implements delivery.Devices.
func (db *DB) CheckIn(ctx context.Context, id string, attrs delivery.Attributes) (delivery.Device, error) {
	b, err := json.Marshal(attrs)
	if err != nil {
		return delivery.Device{}, fmt.Errorf("store: check in: %w", err)
	}
	d, err := scanDevice(db.db.QueryRowContext(ctx, `UPDATE devices SET attributes = $1, last_checkin_us = $2
		WHERE id = $3 RETURNING `+deviceCols, string(b), micros(db.now()), id))
	if errors.Is(err, sql.ErrNoRows) {
		return delivery.Device{}, delivery.Errorf(delivery.ErrNotFound, "device %q not found", id)
	}
	if err != nil {
		return delivery.Device{}, fmt.Errorf("store: check in %q: %w", id, err)
	}
	return d, nil
}

// CheckInBatch records many check-ins in one transaction (one commit, one
// WAL flush): each device's attributes and its last check-in at the
// database's clock. Devices that no longer exist are skipped.
func (db *DB) CheckInBatch(ctx context.Context, stamps map[string]delivery.Attributes) error {
	now := micros(db.now())
	err := db.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE devices SET attributes = $1, last_checkin_us = $2 WHERE id = $3`)
		if err != nil {
			return err
		}
		defer st.Close()
		for id, attrs := range stamps {
			b, err := json.Marshal(attrs)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, string(b), now, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check in %d devices: %w", len(stamps), err)
	}
	return nil
}
