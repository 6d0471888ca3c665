package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// now returns the clock's time at the precision the store keeps.
func (db *DB) now() time.Time { return db.clock.Now().UTC().Truncate(time.Microsecond) }

// micros and fromMicros convert times to and from the stored Unix
// microseconds; the zero time is stored as 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

const modelCols = `name, description, created_us, created_by, latest, current`

func scanModel(s interface{ Scan(...any) error }) (delivery.Model, error) {
	var m delivery.Model
	var created int64
	err := s.Scan(&m.Name, &m.Description, &created, &m.CreatedBy, &m.Latest, &m.Current)
	m.CreatedAt = fromMicros(created)
	return m, err
}

// CreateModel implements delivery.Registry.
func (db *DB) CreateModel(ctx context.Context, m delivery.Model) (delivery.Model, error) {
	if err := m.Validate(); err != nil {
		return delivery.Model{}, err
	}
	m.CreatedAt, m.Latest, m.Current = db.now(), "", ""
	_, err := db.db.ExecContext(ctx,
		`INSERT INTO models (name, description, created_us, created_by) VALUES ($1, $2, $3, $4)`,
		m.Name, m.Description, micros(m.CreatedAt), m.CreatedBy)
	if db.d.isUnique(err) {
		return delivery.Model{}, delivery.Errorf(delivery.ErrConflict, "model %q exists", m.Name)
	}
	if err != nil {
		return delivery.Model{}, fmt.Errorf("store: create model %q: %w", m.Name, err)
	}
	return m, nil
}

// GetModel implements delivery.Registry.
func (db *DB) GetModel(ctx context.Context, name string) (delivery.Model, error) {
	m, err := scanModel(db.db.QueryRowContext(ctx, `SELECT `+modelCols+` FROM models WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return delivery.Model{}, delivery.Errorf(delivery.ErrNotFound, "model %q not found", name)
	}
	if err != nil {
		return delivery.Model{}, fmt.Errorf("store: get model %q: %w", name, err)
	}
	return m, nil
}

// ListModels implements delivery.Registry.
func (db *DB) ListModels(ctx context.Context) ([]delivery.Model, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+modelCols+` FROM models ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list models: %w", err)
	}
	defer rows.Close()
	var ms []delivery.Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list models: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list models: %w", err)
	}
	return ms, nil
}

const versionCols = `model, version, parent, sha256, length, manifest, published_by, published_us,
	notes, data_snapshot, training_run, federated_rounds, epsilon, delta, eval_report`

func scanVersion(s interface{ Scan(...any) error }) (delivery.Version, error) {
	var v delivery.Version
	var manifest, rounds, report string
	var published int64
	var eps, delta sql.NullFloat64
	err := s.Scan(&v.Model, &v.Version, &v.Parent, &v.SHA256, &v.Length, &manifest, &v.PublishedBy,
		&published, &v.Notes, &v.Lineage.DataSnapshot, &v.Lineage.TrainingRun, &rounds, &eps, &delta, &report)
	if err != nil {
		return v, err
	}
	v.PublishedAt = fromMicros(published)
	if manifest != "" {
		v.Manifest = json.RawMessage(manifest)
	}
	if report != "" {
		v.Lineage.EvalReport = json.RawMessage(report)
	}
	if rounds != "" {
		if err := json.Unmarshal([]byte(rounds), &v.Lineage.FederatedRounds); err != nil {
			return v, fmt.Errorf("federated rounds of %s@%s: %w", v.Model, v.Version, err)
		}
	}
	if eps.Valid {
		v.Lineage.Privacy = &delivery.Privacy{Epsilon: eps.Float64, Delta: delta.Float64}
	}
	return v, nil
}

// PublishVersion implements delivery.Registry: see the package doc for how
// it stays race-safe. A publish whose context carries a stale lease fence
// is refused (lease.ErrStale).
func (db *DB) PublishVersion(ctx context.Context, v delivery.Version) (delivery.Version, error) {
	if err := v.Validate(); err != nil {
		return delivery.Version{}, err
	}
	v.PublishedAt = db.now()
	var rounds string
	if len(v.Lineage.FederatedRounds) > 0 {
		b, err := json.Marshal(v.Lineage.FederatedRounds)
		if err != nil {
			return delivery.Version{}, fmt.Errorf("store: publish: %w", err)
		}
		rounds = string(b)
	}
	var eps, delta sql.NullFloat64
	if p := v.Lineage.Privacy; p != nil {
		eps = sql.NullFloat64{Float64: p.Epsilon, Valid: true}
		delta = sql.NullFloat64{Float64: p.Delta, Valid: true}
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// A leader's publish (a federated round's candidate) carries its
		// lease fence: refused once another replica leads.
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		// The first statement locks the model's row (PostgreSQL) — on
		// SQLite the IMMEDIATE transaction already holds the write lock —
		// and hands out the version's sequence number.
		var latest string
		var seq int64
		err := tx.QueryRowContext(ctx,
			`UPDATE models SET version_count = version_count + 1 WHERE name = $1 RETURNING latest, version_count`,
			v.Model).Scan(&latest, &seq)
		if errors.Is(err, sql.ErrNoRows) {
			return delivery.Errorf(delivery.ErrNotFound, "model %q not found", v.Model)
		}
		if err != nil {
			return err
		}
		if err := delivery.CheckIncreases(v.Model, latest, v.Version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO versions (model, version, seq, parent, sha256, length,
			manifest, published_by, published_us, notes, data_snapshot, training_run, federated_rounds,
			epsilon, delta, eval_report) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			v.Model, v.Version, seq, v.Parent, v.SHA256, v.Length, string(v.Manifest), v.PublishedBy,
			micros(v.PublishedAt), v.Notes, v.Lineage.DataSnapshot, v.Lineage.TrainingRun, rounds,
			eps, delta, string(v.Lineage.EvalReport)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO artifacts (model, version, kind, from_version, sha256,
			length, media_type, created_us) VALUES ($1, $2, $3, '', $4, $5, $6, $7)`,
			v.Model, v.Version, string(delivery.KindBundle), v.SHA256, v.Length, delivery.MediaBundle,
			micros(v.PublishedAt)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE models SET latest = $1 WHERE name = $2`, v.Version, v.Model)
		return err
	})
	switch {
	case err == nil:
		return v, nil
	case db.d.isUnique(err):
		return delivery.Version{}, delivery.Errorf(delivery.ErrConflict, "version %s@%s exists", v.Model, v.Version)
	case delivery.Code(err) != "internal":
		return delivery.Version{}, err
	}
	return delivery.Version{}, fmt.Errorf("store: publish %s@%s: %w", v.Model, v.Version, err)
}

// GetVersion implements delivery.Registry.
func (db *DB) GetVersion(ctx context.Context, model, version string) (delivery.Version, error) {
	v, err := scanVersion(db.db.QueryRowContext(ctx,
		`SELECT `+versionCols+` FROM versions WHERE model = $1 AND version = $2`, model, version))
	if errors.Is(err, sql.ErrNoRows) {
		return delivery.Version{}, delivery.Errorf(delivery.ErrNotFound, "version %s@%s not found", model, version)
	}
	if err != nil {
		return delivery.Version{}, fmt.Errorf("store: get version %s@%s: %w", model, version, err)
	}
	return v, nil
}

// ListVersions implements delivery.Registry. An unknown model is
// ErrNotFound; a model without versions gives an empty list.
func (db *DB) ListVersions(ctx context.Context, model string) ([]delivery.Version, error) {
	if _, err := db.GetModel(ctx, model); err != nil {
		return nil, err
	}
	return db.queryVersions(ctx, "list versions",
		`SELECT `+versionCols+` FROM versions WHERE model = $1 ORDER BY seq`, model)
}

// maxLineage bounds the parent walk. Parents strictly precede their
// children, so chains cannot cycle; the bound only caps the work.
const maxLineage = 10000

// Lineage implements delivery.Registry with one recursive query.
func (db *DB) Lineage(ctx context.Context, model, version string) ([]delivery.Version, error) {
	vs, err := db.queryVersions(ctx, "lineage", `WITH RECURSIVE chain (version, parent, depth) AS (
			SELECT version, parent, 0 FROM versions WHERE model = $1 AND version = $2
			UNION ALL
			SELECT v.version, v.parent, c.depth + 1 FROM versions v
			JOIN chain c ON v.model = $1 AND v.version = c.parent
			WHERE c.depth < $3
		)
		SELECT `+prefixed("v.", versionCols)+` FROM versions v
		JOIN chain c ON v.model = $1 AND v.version = c.version
		ORDER BY c.depth`, model, version, maxLineage)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, delivery.Errorf(delivery.ErrNotFound, "version %s@%s not found", model, version)
	}
	return vs, nil
}

func (db *DB) queryVersions(ctx context.Context, op, query string, args ...any) ([]delivery.Version, error) {
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	vs := []delivery.Version{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return vs, nil
}
