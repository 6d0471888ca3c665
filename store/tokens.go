package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/delivery"
)

const tokenCols = `id, hash, scope, name, created_us, revoked_us`

func scanToken(s interface{ Scan(...any) error }) (delivery.Token, error) {
	var t delivery.Token
	var scope string
	var created, revoked int64
	err := s.Scan(&t.ID, &t.Hash, &scope, &t.Name, &created, &revoked)
	t.Scope = delivery.Scope(scope)
	t.CreatedAt, t.RevokedAt = fromMicros(created), fromMicros(revoked)
	return t, err
}

// CreateToken implements delivery.Tokens.
func (db *DB) CreateToken(ctx context.Context, t delivery.Token) (delivery.Token, error) {
	if err := t.Validate(); err != nil {
		return delivery.Token{}, err
	}
	t.CreatedAt, t.RevokedAt = db.now(), delivery.Token{}.RevokedAt
	_, err := db.db.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, 0)`,
		t.ID, t.Hash, string(t.Scope), t.Name, micros(t.CreatedAt))
	if db.d.isUnique(err) {
		return delivery.Token{}, delivery.Errorf(delivery.ErrConflict, "token %q or its secret exists", t.ID)
	}
	if err != nil {
		return delivery.Token{}, fmt.Errorf("store: create token %q: %w", t.ID, err)
	}
	return t, nil
}

// TokenByHash implements delivery.Tokens.
func (db *DB) TokenByHash(ctx context.Context, hash string) (delivery.Token, error) {
	t, err := scanToken(db.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The message names no hash: it is as good as a secret to no one,
		// but there is nothing to gain from echoing it.
		return delivery.Token{}, delivery.Errorf(delivery.ErrNotFound, "token not found")
	}
	if err != nil {
		return delivery.Token{}, fmt.Errorf("store: token by hash: %w", err)
	}
	return t, nil
}

// ListTokens implements delivery.Tokens, oldest first.
func (db *DB) ListTokens(ctx context.Context) ([]delivery.Token, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_us, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	ts := []delivery.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken implements delivery.Tokens.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	res, err := db.db.ExecContext(ctx,
		`UPDATE tokens SET revoked_us = CASE WHEN revoked_us = 0 THEN $1 ELSE revoked_us END WHERE id = $2`,
		micros(db.now()), id)
	if err != nil {
		return fmt.Errorf("store: revoke token %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: revoke token %q: %w", id, err)
	} else if n == 0 {
		return delivery.Errorf(delivery.ErrNotFound, "token %q not found", id)
	}
	return nil
}
