package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
)

var _ rollout.Persister = (*DB)(nil)

// SaveRollout implements rollout.Persister: it inserts the rollout or
// replaces the stored one with the same ID. A write whose context carries
// a stale lease fence is refused (lease.ErrStale).
func (db *DB) SaveRollout(ctx context.Context, s rollout.Saved) error {
	if s.ID == "" || s.Model == "" {
		return delivery.Errorf(delivery.ErrInvalid, "a saved rollout needs an id and a model")
	}
	if !json.Valid(s.Document) {
		return delivery.Errorf(delivery.ErrInvalid, "rollout %s: document is not JSON", s.ID)
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rollouts (id, model, state, document, updated_us)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET model = excluded.model, state = excluded.state,
			document = excluded.document, updated_us = excluded.updated_us`,
			s.ID, s.Model, s.State.String(), string(s.Document), micros(s.Updated))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save rollout %s: %w", s.ID, err)
	}
	return nil
}

// LoadRollouts implements rollout.Persister, ordered by ID.
func (db *DB) LoadRollouts(ctx context.Context) ([]rollout.Saved, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id, model, state, document, updated_us FROM rollouts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: load rollouts: %w", err)
	}
	defer rows.Close()
	out := []rollout.Saved{}
	for rows.Next() {
		var s rollout.Saved
		var state, doc string
		var updated int64
		if err := rows.Scan(&s.ID, &s.Model, &state, &doc, &updated); err != nil {
			return nil, fmt.Errorf("store: load rollouts: %w", err)
		}
		if err := s.State.UnmarshalText([]byte(state)); err != nil {
			return nil, fmt.Errorf("store: load rollout %s: %w", s.ID, err)
		}
		s.Document, s.Updated = json.RawMessage(doc), fromMicros(updated)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load rollouts: %w", err)
	}
	return out, nil
}
