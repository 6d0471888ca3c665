package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/lease"
)

// testDeviceLookups covers the server's cache-filling reads: many devices
// by credential in one query, and the most recently checked-in devices.
func testDeviceLookups(t *testing.T, e *env) {
	ctx := t.Context()
	const n = 40
	for i := range n {
		if _, err := e.db.RegisterDevice(ctx, delivery.Device{ID: fmt.Sprintf("dev-%02d", i),
			CredentialHash: sum(fmt.Sprintf("cred-%02d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	hashes := []string{sum("cred-03"), sum("cred-17"), sum("nobody"), sum("cred-39")}
	got, err := e.db.DevicesByCredentials(ctx, hashes)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[sum("cred-03")].ID != "dev-03" || got[sum("cred-17")].ID != "dev-17" || got[sum("cred-39")].ID != "dev-39" {
		t.Fatalf("DevicesByCredentials = %v", got)
	}
	if _, ok := got[sum("nobody")]; ok {
		t.Fatal("an unknown credential was found")
	}
	if got, err := e.db.DevicesByCredentials(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("no hashes: %v, %v", got, err)
	}
	if _, err := e.db.DevicesByCredentials(ctx, make([]string, MaxCredentialBatch+1)); err == nil {
		t.Fatal("an oversized batch was accepted")
	}

	// Check in dev-05, dev-30, dev-12 in that order: most recent first.
	for _, id := range []string{"dev-05", "dev-30", "dev-12"} {
		e.clock.Advance(time.Minute)
		if _, err := e.db.CheckIn(ctx, id, delivery.Attributes{Class: "high"}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	if err := e.db.RecentDevices(ctx, 3, func(d delivery.Device) bool {
		ids = append(ids, d.ID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"dev-12", "dev-30", "dev-05"}) {
		t.Fatalf("RecentDevices(3) = %v", ids)
	}
	ids = nil
	if err := e.db.RecentDevices(ctx, 100, func(d delivery.Device) bool {
		ids = append(ids, d.ID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("RecentDevices(100) = %v: devices that never checked in are not recent", ids)
	}
	ids = nil
	if err := e.db.RecentDevices(ctx, 100, func(d delivery.Device) bool {
		ids = append(ids, d.ID)
		return len(ids) < 2
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Fatalf("RecentDevices went on after fn returned false: %v", ids)
	}
}

// testFencedPublish: a publish carrying the lease's current epoch (a
// leader's federated candidate) lands; one carrying an older epoch (a
// deposed leader's late write) is refused and leaves nothing behind.
func testFencedPublish(t *testing.T, e *env) {
	ctx := t.Context()
	mustModel(t, e.db, "eta")
	if _, err := e.db.db.ExecContext(ctx, `INSERT INTO leases (name, epoch, holder, acquired_us) VALUES ('fl', 2, 'replica-b', 0)`); err != nil {
		t.Fatal(err)
	}
	leader := lease.WithFence(ctx, lease.Fence{Name: "fl", Epoch: 2})
	if _, err := e.db.PublishVersion(leader, version("eta", "1.0.0", "")); err != nil {
		t.Fatalf("publish at the current epoch: %v", err)
	}
	deposed := lease.WithFence(ctx, lease.Fence{Name: "fl", Epoch: 1})
	if _, err := e.db.PublishVersion(deposed, version("eta", "1.1.0", "1.0.0")); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("publish at a stale epoch: %v, want lease.ErrStale", err)
	}
	if _, err := e.db.GetVersion(ctx, "eta", "1.1.0"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the refused version is in the registry (%v)", err)
	}
	if _, err := e.db.PublishVersion(ctx, version("eta", "1.1.0", "1.0.0")); err != nil {
		t.Fatalf("unfenced publish after the refusal: %v", err)
	}
}

// testDeviceUpserts covers the server's batched check-in writes: existing
// devices updated (credential and registration kept), missing ones
// registered, duplicates collapsed to the last, a foreign credential
// skipped without losing the rest, batches beyond one statement.
func testDeviceUpserts(t *testing.T, e *env) {
	ctx := t.Context()
	if _, err := e.db.RegisterDevice(ctx, delivery.Device{ID: "dev-a", CredentialHash: sum("cred-a")}); err != nil {
		t.Fatal(err)
	}
	regA, err := e.db.GetDevice(ctx, "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if err := e.db.UpsertCheckIns(ctx, []delivery.Device{
		{ID: "dev-a", CredentialHash: sum("cred-a"), Attributes: delivery.Attributes{Class: "high"}},
		{ID: "dev-new", CredentialHash: sum("cred-new"), Attributes: delivery.Attributes{Class: "low", Region: "NL"}},
		{ID: "dev-a", CredentialHash: sum("cred-a"), Attributes: delivery.Attributes{Class: "mid"}},
	}); err != nil {
		t.Fatal(err)
	}
	a, err := e.db.GetDevice(ctx, "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Attributes.Class != "mid" || a.CredentialHash != sum("cred-a") || !a.RegisteredAt.Equal(regA.RegisteredAt) ||
		!a.LastCheckIn.Equal(e.clock.Now().UTC().Truncate(time.Microsecond)) {
		t.Fatalf("dev-a after upsert: %+v (registered %v)", a, regA.RegisteredAt)
	}
	n, err := e.db.DeviceByCredential(ctx, sum("cred-new"))
	if err != nil {
		t.Fatalf("a device without a row was not registered: %v", err)
	}
	if n.ID != "dev-new" || n.Attributes.Region != "NL" || n.RegisteredAt.IsZero() || !n.LastCheckIn.Equal(n.RegisteredAt) {
		t.Fatalf("dev-new: %+v", n)
	}

	// dev-x claims dev-a's credential hash: skipped, dev-y still written.
	err = e.db.UpsertCheckIns(ctx, []delivery.Device{
		{ID: "dev-x", CredentialHash: sum("cred-a")},
		{ID: "dev-y", CredentialHash: sum("cred-y")},
	})
	if !errors.Is(err, delivery.ErrConflict) {
		t.Fatalf("foreign credential: %v, want ErrConflict", err)
	}
	if _, err := e.db.GetDevice(ctx, "dev-x"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("dev-x was written: %v", err)
	}
	if _, err := e.db.GetDevice(ctx, "dev-y"); err != nil {
		t.Fatalf("dev-y lost with dev-x's conflict: %v", err)
	}
	if err := e.db.UpsertCheckIns(ctx, []delivery.Device{{ID: "dev-z", CredentialHash: "not-a-hash"}}); !errors.Is(err, delivery.ErrInvalid) {
		t.Fatalf("bad hash: %v, want ErrInvalid", err)
	}

	// More rows than one statement takes.
	many := make([]delivery.Device, upsertRows*2+17)
	for i := range many {
		many[i] = delivery.Device{ID: fmt.Sprintf("bulk-%05d", i), CredentialHash: sum(fmt.Sprintf("bulk-%d", i)),
			Attributes: delivery.Attributes{Class: "c"}}
	}
	if err := e.db.UpsertCheckIns(ctx, many); err != nil {
		t.Fatal(err)
	}
	found := 0
	if err := e.db.RecentDevices(ctx, 10*upsertRows, func(d delivery.Device) bool {
		if strings.HasPrefix(d.ID, "bulk-") && d.Attributes.Class == "c" {
			found++
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if found != len(many) {
		t.Fatalf("%d of %d bulk check-ins recorded", found, len(many))
	}
}
