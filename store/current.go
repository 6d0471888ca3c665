package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sextant-ml/sextant/delivery"
)

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// SetCurrent implements delivery.Registry. A write whose context carries a
// stale lease fence is refused (lease.ErrStale).
func (db *DB) SetCurrent(ctx context.Context, model, version string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM versions WHERE model = $1 AND version = $2`,
			model, version).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return delivery.Errorf(delivery.ErrNotFound, "version %s@%s not found", model, version)
		}
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE models SET current = $1 WHERE name = $2`, version, model); err != nil {
			return err
		}
		return db.notifyLocked(ctx, tx, ChangeCurrent, model)
	})
	if err != nil && delivery.Code(err) == "internal" {
		return fmt.Errorf("store: set current %s@%s: %w", model, version, err)
	}
	return err
}

// GetCurrent implements delivery.Registry.
func (db *DB) GetCurrent(ctx context.Context, model string) (delivery.Version, error) {
	m, err := db.GetModel(ctx, model)
	if err != nil {
		return delivery.Version{}, err
	}
	if m.Current == "" {
		return delivery.Version{}, delivery.Errorf(delivery.ErrNotFound, "model %q has no current version", model)
	}
	return db.GetVersion(ctx, model, m.Current)
}

const artifactCols = `model, version, kind, from_version, sha256, length, media_type, created_us`

func scanArtifact(s interface{ Scan(...any) error }) (delivery.Artifact, error) {
	var a delivery.Artifact
	var kind string
	var created int64
	err := s.Scan(&a.Model, &a.Version, &kind, &a.From, &a.SHA256, &a.Length, &a.MediaType, &created)
	a.Kind = delivery.ArtifactKind(kind)
	a.CreatedAt = fromMicros(created)
	return a, err
}

// PutArtifact implements delivery.Registry. The version (and, for a delta,
// the version it applies to) must be published.
func (db *DB) PutArtifact(ctx context.Context, a delivery.Artifact) (delivery.Artifact, error) {
	if err := a.Validate(); err != nil {
		return delivery.Artifact{}, err
	}
	var out delivery.Artifact
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for _, v := range []string{a.Version, a.From} {
			if v == "" {
				continue
			}
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM versions WHERE model = $1 AND version = $2`,
				a.Model, v).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return delivery.Errorf(delivery.ErrNotFound, "version %s@%s not found", a.Model, v)
			}
			if err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO artifacts (`+artifactCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			a.Model, a.Version, string(a.Kind), a.From, a.SHA256, a.Length, a.MediaType,
			micros(db.now())); err != nil {
			return err
		}
		var err error
		out, err = scanArtifact(tx.QueryRowContext(ctx, `SELECT `+artifactCols+` FROM artifacts
			WHERE model = $1 AND version = $2 AND kind = $3 AND from_version = $4 AND sha256 = $5`,
			a.Model, a.Version, string(a.Kind), a.From, a.SHA256))
		return err
	})
	if err != nil {
		if delivery.Code(err) != "internal" {
			return delivery.Artifact{}, err
		}
		return delivery.Artifact{}, fmt.Errorf("store: put artifact %s@%s %s: %w", a.Model, a.Version, a.Kind, err)
	}
	if out.Length != a.Length {
		return delivery.Artifact{}, delivery.Errorf(delivery.ErrConflict,
			"artifact %s is recorded with length %d, not %d", a.SHA256, out.Length, a.Length)
	}
	return out, nil
}

// ListArtifacts implements delivery.Registry.
func (db *DB) ListArtifacts(ctx context.Context, model, version string) ([]delivery.Artifact, error) {
	if _, err := db.GetVersion(ctx, model, version); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+artifactCols+` FROM artifacts
		WHERE model = $1 AND version = $2 ORDER BY kind, from_version, sha256`, model, version)
	if err != nil {
		return nil, fmt.Errorf("store: list artifacts: %w", err)
	}
	defer rows.Close()
	as := []delivery.Artifact{}
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list artifacts: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list artifacts: %w", err)
	}
	return as, nil
}
