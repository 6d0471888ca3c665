package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/delivery"
)

// AppendAudit implements delivery.AuditLog.
func (db *DB) AppendAudit(ctx context.Context, e delivery.AuditEvent) (delivery.AuditEvent, error) {
	if e.Who == "" || e.What == "" {
		return delivery.AuditEvent{}, delivery.Errorf(delivery.ErrInvalid, "an audit event needs who and what")
	}
	if len(e.Details) > 0 && !json.Valid(e.Details) {
		return delivery.AuditEvent{}, delivery.Errorf(delivery.ErrInvalid, "audit details are not JSON")
	}
	e.When = db.now()
	err := db.db.QueryRowContext(ctx, `INSERT INTO audit (who, what, target, when_us, details)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		e.Who, e.What, e.Target, micros(e.When), string(e.Details)).Scan(&e.ID)
	if err != nil {
		return delivery.AuditEvent{}, fmt.Errorf("store: append audit %s by %s: %w", e.What, e.Who, err)
	}
	return e, nil
}

// ListAudit implements delivery.AuditLog, newest first.
func (db *DB) ListAudit(ctx context.Context, q delivery.AuditQuery) ([]delivery.AuditEvent, error) {
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.Who != "" {
		arg("who = ?", q.Who)
	}
	if q.What != "" {
		arg("what = ?", q.What)
	}
	if q.Before > 0 {
		arg("id < ?", q.Before)
	}
	query := `SELECT id, who, what, target, when_us, details FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.EffectiveLimit())
	query += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	es := []delivery.AuditEvent{}
	for rows.Next() {
		var e delivery.AuditEvent
		var when int64
		var details string
		if err := rows.Scan(&e.ID, &e.Who, &e.What, &e.Target, &when, &details); err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		e.When = fromMicros(when)
		if details != "" {
			e.Details = json.RawMessage(details)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return es, nil
}
