package delivery

import (
	"encoding/json"
	"time"
)

// AuditEvent records one admin call: who did what, when.
type AuditEvent struct {
	// ID is assigned by the store, increasing in append order.
	ID int64 `json:"id"`
	// Who is the acting token's ID (or "device:<id>", "system").
	Who string `json:"who"`
	// What names the action, e.g. "publish", "set-current", "token.create".
	What string `json:"what"`
	// Target names what the action touched, e.g. "next-destination@1.2.0".
	Target string `json:"target,omitempty"`
	// When is set by the store from its clock.
	When time.Time `json:"when"`
	// Details is free JSON; no secrets and no personal data.
	Details json.RawMessage `json:"details,omitempty"`
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	// Who and What filter when non-empty.
	Who, What string
	// Before, when positive, returns only events with ID < Before (the
	// cursor for the next page).
	Before int64
	// Limit caps the result; ≤ 0 means DefaultAuditLimit, and it never
	// exceeds MaxAuditLimit.
	Limit int
}

// Page sizes of audit listings.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// EffectiveLimit is the limit a store applies to q.
func (q AuditQuery) EffectiveLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultAuditLimit
	case q.Limit > MaxAuditLimit:
		return MaxAuditLimit
	}
	return q.Limit
}
