package store

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

func testTokens(t *testing.T, e *env) {
	ctx := t.Context()
	created := e.clock.Now().Truncate(time.Microsecond)
	pub, err := e.db.CreateToken(ctx, delivery.Token{ID: "tok-1", Hash: delivery.HashSecret("s3cret-1"),
		Scope: delivery.ScopePublish, Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if !pub.CreatedAt.Equal(created) || !pub.RevokedAt.IsZero() {
		t.Fatalf("token = %+v", pub)
	}
	_, err = e.db.CreateToken(ctx, delivery.Token{ID: "tok-1", Hash: delivery.HashSecret("other"), Scope: delivery.ScopeRead})
	wantKind(t, err, delivery.ErrConflict, "duplicate token id")
	_, err = e.db.CreateToken(ctx, delivery.Token{ID: "tok-2", Hash: delivery.HashSecret("s3cret-1"), Scope: delivery.ScopeRead})
	wantKind(t, err, delivery.ErrConflict, "duplicate token secret")
	_, err = e.db.CreateToken(ctx, delivery.Token{ID: "tok-3", Hash: "s3cret-in-clear", Scope: delivery.ScopeRead})
	wantKind(t, err, delivery.ErrInvalid, "a secret that is not a hash")
	_, err = e.db.CreateToken(ctx, delivery.Token{ID: "tok-4", Hash: delivery.HashSecret("x"), Scope: "admin"})
	wantKind(t, err, delivery.ErrInvalid, "unknown scope")

	got, err := e.db.TokenByHash(ctx, delivery.HashSecret("s3cret-1"))
	if err != nil || !reflect.DeepEqual(got, pub) {
		t.Fatalf("TokenByHash = %+v, %v; want %+v", got, err, pub)
	}
	_, err = e.db.TokenByHash(ctx, delivery.HashSecret("guess"))
	wantKind(t, err, delivery.ErrNotFound, "unknown secret")

	// The secret itself is nowhere in the database.
	var n int
	if err := e.db.db.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE hash = 's3cret-1' OR id = 's3cret-1' OR name = 's3cret-1'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("secret stored in clear (%d rows, %v)", n, err)
	}

	e.clock.Advance(time.Hour)
	revokedAt := e.clock.Now().Truncate(time.Microsecond)
	if err := e.db.RevokeToken(ctx, "tok-1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if err := e.db.RevokeToken(ctx, "tok-1"); err != nil {
		t.Fatal(err)
	}
	got, _ = e.db.TokenByHash(ctx, delivery.HashSecret("s3cret-1"))
	if !got.RevokedAt.Equal(revokedAt) || got.Allows(delivery.ScopeRead) {
		t.Fatalf("revoked token = %+v (want RevokedAt %v, allowing nothing)", got, revokedAt)
	}
	wantKind(t, e.db.RevokeToken(ctx, "tok-9"), delivery.ErrNotFound, "revoke unknown")

	if _, err := e.db.CreateToken(ctx, delivery.Token{ID: "tok-5", Hash: delivery.HashSecret("enroll"), Scope: delivery.ScopeEnroll}); err != nil {
		t.Fatal(err)
	}
	ts, err := e.db.ListTokens(ctx)
	if err != nil || len(ts) != 2 || ts[0].ID != "tok-1" || ts[1].ID != "tok-5" {
		t.Fatalf("ListTokens = %+v, %v", ts, err)
	}
}

func testDevices(t *testing.T, e *env) {
	ctx := t.Context()
	attrs := delivery.Attributes{Class: "mid-2022", OS: "android 14", AppVersion: "8.1.0", Region: "CH",
		Locale: "de-CH", Custom: map[string]string{"beta": "yes"}}
	d, err := e.db.RegisterDevice(ctx, delivery.Device{ID: "dev-1", CredentialHash: delivery.HashSecret("cred-1"), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	if !d.RegisteredAt.Equal(e.clock.Now().Truncate(time.Microsecond)) || !d.LastCheckIn.IsZero() {
		t.Fatalf("registered = %+v", d)
	}
	_, err = e.db.RegisterDevice(ctx, delivery.Device{ID: "dev-1", CredentialHash: delivery.HashSecret("cred-2")})
	wantKind(t, err, delivery.ErrConflict, "duplicate device id")
	_, err = e.db.RegisterDevice(ctx, delivery.Device{ID: "dev-2", CredentialHash: delivery.HashSecret("cred-1")})
	wantKind(t, err, delivery.ErrConflict, "duplicate credential")
	_, err = e.db.RegisterDevice(ctx, delivery.Device{ID: "dev-3", CredentialHash: "cred-in-clear"})
	wantKind(t, err, delivery.ErrInvalid, "credential not hashed")

	for _, get := range []func() (delivery.Device, error){
		func() (delivery.Device, error) { return e.db.GetDevice(ctx, "dev-1") },
		func() (delivery.Device, error) { return e.db.DeviceByCredential(ctx, delivery.HashSecret("cred-1")) },
	} {
		got, err := get()
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("device = %+v, %v; want %+v", got, err, d)
		}
	}
	_, err = e.db.GetDevice(ctx, "dev-9")
	wantKind(t, err, delivery.ErrNotFound, "unknown device")
	_, err = e.db.DeviceByCredential(ctx, delivery.HashSecret("stolen?"))
	wantKind(t, err, delivery.ErrNotFound, "unknown credential")

	e.clock.Advance(10 * time.Minute)
	attrs2 := delivery.Attributes{Class: "mid-2022", OS: "android 15", AppVersion: "8.2.0", Region: "CH", Locale: "fr-CH"}
	c, err := e.db.CheckIn(ctx, "dev-1", attrs2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Attributes, attrs2) || !c.LastCheckIn.Equal(e.clock.Now().Truncate(time.Microsecond)) ||
		!c.RegisteredAt.Equal(d.RegisteredAt) {
		t.Fatalf("after check-in = %+v", c)
	}
	if got, _ := e.db.GetDevice(ctx, "dev-1"); !reflect.DeepEqual(got, c) {
		t.Fatalf("stored after check-in = %+v, want %+v", got, c)
	}
	_, err = e.db.CheckIn(ctx, "dev-9", attrs2)
	wantKind(t, err, delivery.ErrNotFound, "check-in of an unknown device")
}

func testAudit(t *testing.T, e *env) {
	ctx := t.Context()
	var appended []delivery.AuditEvent
	for i, ev := range []delivery.AuditEvent{
		{Who: "tok-1", What: "publish", Target: "eta@1.0.0", Details: json.RawMessage(`{"notes":"x"}`)},
		{Who: "tok-2", What: "set-current", Target: "eta@1.0.0"},
		{Who: "tok-1", What: "publish", Target: "eta@1.1.0"},
		{Who: "tok-1", What: "token.create", Target: "tok-3"},
		{Who: "tok-2", What: "publish", Target: "eta@1.2.0"},
	} {
		e.clock.Advance(time.Duration(i+1) * time.Second)
		got, err := e.db.AppendAudit(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID <= 0 || (i > 0 && got.ID <= appended[i-1].ID) || !got.When.Equal(e.clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("appended %+v", got)
		}
		appended = append(appended, got)
	}
	_, err := e.db.AppendAudit(ctx, delivery.AuditEvent{What: "publish"})
	wantKind(t, err, delivery.ErrInvalid, "event without who")
	_, err = e.db.AppendAudit(ctx, delivery.AuditEvent{Who: "a", What: "b", Details: json.RawMessage("{")})
	wantKind(t, err, delivery.ErrInvalid, "details not JSON")

	ids := func(es []delivery.AuditEvent, err error) []int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	id := func(i int) int64 { return appended[i].ID }
	all, err := e.db.ListAudit(ctx, delivery.AuditQuery{})
	if err != nil || !reflect.DeepEqual(all[0], appended[4]) || !reflect.DeepEqual(all[4], appended[0]) {
		t.Fatalf("ListAudit = %+v, %v", all, err)
	}
	for name, c := range map[string]struct {
		q    delivery.AuditQuery
		want []int64
	}{
		"who":      {delivery.AuditQuery{Who: "tok-1"}, []int64{id(3), id(2), id(0)}},
		"what":     {delivery.AuditQuery{What: "publish"}, []int64{id(4), id(2), id(0)}},
		"both":     {delivery.AuditQuery{Who: "tok-2", What: "publish"}, []int64{id(4)}},
		"page 1":   {delivery.AuditQuery{Limit: 2}, []int64{id(4), id(3)}},
		"page 2":   {delivery.AuditQuery{Limit: 2, Before: id(3)}, []int64{id(2), id(1)}},
		"filtered": {delivery.AuditQuery{Who: "tok-1", Before: id(3)}, []int64{id(2), id(0)}},
	} {
		if got := ids(e.db.ListAudit(ctx, c.q)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: ListAudit(%+v) = %v, want %v", name, c.q, got, c.want)
		}
	}
	if _, err := e.db.ListAudit(ctxDone(), delivery.AuditQuery{}); err == nil || !errors.Is(err, ctxDone().Err()) {
		t.Errorf("ListAudit with a cancelled context: err = %v", err)
	}
}
