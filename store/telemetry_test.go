package store

import (
	"errors"
	"testing"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/lease"
)

// testTelemetryAggregates: an aggregate commits under a version that only
// moves forward; a stale fence is refused; it survives a reopen.
func testTelemetryAggregates(t *testing.T, e *env) {
	ctx := t.Context()
	seq, doc, err := e.db.LoadTelemetryAggregate(ctx, "road")
	if err != nil || seq != 0 || doc != nil {
		t.Fatalf("never committed: %d %q %v", seq, doc, err)
	}
	if err := e.db.SaveTelemetryAggregate(ctx, "road", 5, []byte(`{"n":5}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SaveTelemetryAggregate(ctx, "road", 5, []byte(`{"n":6}`)); !errors.Is(err, delivery.ErrConflict) {
		t.Fatalf("same version again: %v, want ErrConflict", err)
	}
	if err := e.db.SaveTelemetryAggregate(ctx, "road", 3, []byte(`{"n":3}`)); !errors.Is(err, delivery.ErrConflict) {
		t.Fatalf("older version: %v, want ErrConflict", err)
	}
	stale := lease.WithFence(ctx, lease.Fence{Name: "leader", Epoch: 1})
	if err := e.db.SaveTelemetryAggregate(stale, "road", 9, []byte(`{"n":9}`)); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("ungranted fence: %v, want ErrStale", err)
	}
	if err := e.db.SaveTelemetryAggregate(ctx, "road", 7, []byte(`{"n":7}`)); err != nil {
		t.Fatal(err)
	}
	e.db.Close()
	e.db = e.open(t)
	seq, doc, err = e.db.LoadTelemetryAggregate(ctx, "road")
	if err != nil || seq != 7 || string(doc) != `{"n":7}` {
		t.Fatalf("after reopen: %d %q %v", seq, doc, err)
	}
}
