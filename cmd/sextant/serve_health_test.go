package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/store"
)

// TestServeHealthGates: the controller `sextant serve` builds reads its
// gates from the devices' health reports (no longer "no data"): a
// candidate whose devices report many more inference errors is rolled
// back, and the releases' ε is charged to the ledger under --data.
func TestServeHealthGates(t *testing.T) {
	ctx := t.Context()
	data := t.TempDir()
	db := openDataStore(t, data)
	ctl, agg, _, err := newHealthGates(ctx, data, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	spec := rollout.Spec{ID: "r1", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Stages: []rollout.Stage{{Share: 5000, Bake: time.Hour}},
		Gates: []rollout.Gate{{Metric: health.MetricInferenceErrors, Kind: experiment.MetricProportion,
			MaxRegression: 0.01, MinUnits: 1000}}}
	if _, err := ctl.Create(spec); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start("r1", "op"); err != nil {
		t.Fatal(err)
	}
	// The default budget: ε 0.5 per release, events capped at 100 per
	// device (Laplace scale 400 on each count).
	for d := range 4000 {
		v, rate := "1.0.0", 0.01
		if d%2 == 0 {
			v, rate = "2.0.0", 0.05
		}
		rec := dhealth.NewRecorder()
		for i := range 200 {
			rec.Inference("eta", v, time.Millisecond, float64(i) < rate*200)
		}
		if err := agg.Ingest(ctx, fmt.Sprint("d", d), rec.Take()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ctl.Evaluate(ctx, "r1")
	if err != nil || st != rollout.RolledBack {
		got, _ := ctl.Status("r1")
		t.Fatalf("evaluation: %v, %v; gates %+v", st, err, got.LastGates)
	}
	if _, err := os.Stat(filepath.Join(data, "health-ledger.json")); err != nil {
		t.Fatalf("no ledger of the releases: %v", err)
	}
}

// TestServeHealthQueue: in `sextant serve` the check-ins' health reports
// go through JetStream (embedded here) and the leader's driver folds them
// into the gates' aggregate; a follower reports drift as not measured.
func TestServeHealthQueue(t *testing.T) {
	ctx := t.Context()
	data := t.TempDir()
	db := openDataStore(t, data)
	log := slog.New(slog.DiscardHandler)
	ctl, agg, _, err := newHealthGates(ctx, data, db, log)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := openBus(ctx, "", "", data, db.Dialect(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	q, err := newHealthQueue(ctx, bus, agg, log)
	if err != nil {
		t.Fatal(err)
	}
	for d := range 30 {
		rec := dhealth.NewRecorder()
		rec.Inference("eta", "1.0.0", time.Millisecond, false)
		if err := q.Ingest(ctx, fmt.Sprint("d", d), rec.Take()); err != nil {
			t.Fatal(err)
		}
	}
	if n := agg.Devices("eta", "1.0.0"); n != 0 {
		t.Fatalf("reports reached the aggregate before anyone led: %d devices", n)
	}
	driver := &rolloutDriver{ctl: ctl, interval: 50 * time.Millisecond, log: log, health: q}
	drift := leaderDrift{agg: agg, leading: &driver.leading}
	if r, err := drift.Drift(ctx, "r1"); r != nil || err != nil {
		t.Fatalf("a follower's drift: %+v, %v", r, err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- driver.run(lctx, defaultDSN(data), db.Dialect(), "test") }()
	waitFor(t, 10*time.Second, "the leader to fold the reports in", func() bool { return agg.Devices("eta", "1.0.0") == 30 })
	stop()
	<-done
}

// TestSharedHealthLedger: two replicas' health ledgers share the ε spent
// through the store. The replica that takes the lead counts what the
// earlier leader spent that day, so a failover cannot spend a day's budget
// twice, and a deposed leader's later charge is refused.
func TestSharedHealthLedger(t *testing.T) {
	ctx := t.Context()
	data := t.TempDir()
	db := openDataStore(t, data)
	replica := func(name string) *sharedLedger {
		l, err := telemetry.OpenLedger(filepath.Join(data, name+"-ledger.json"))
		if err != nil {
			t.Fatal(err)
		}
		return &sharedLedger{ledger: l, docs: db}
	}
	now := time.Now()
	a, b := replica("a"), replica("b")
	if err := a.lead(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.ledger.Spend("health", now, 1, 4); err != nil {
			t.Fatal(err)
		}
	}
	// a is deposed (its process stalls); b takes the lead.
	if err := b.lead(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.ledger.Spent("health", now); got != 3 {
		t.Fatalf("the new leader counts %v spent today, want the 3 its predecessor spent", got)
	}
	var be *telemetry.BudgetExceededError
	if err := b.ledger.Spend("health", now, 2, 4); !errors.As(err, &be) {
		t.Fatalf("the new leader spent 2 more of a budget of 4 with 3 spent: %v", err)
	}
	if err := b.ledger.Spend("health", now, 1, 4); err != nil {
		t.Fatal(err)
	}
	// The deposed leader wakes up and tries to charge: the store has moved
	// on, so the charge (and the release it would pay for) fails.
	if err := a.ledger.Spend("other", now, 0.5, 4); err == nil {
		t.Fatal("a deposed leader's charge was accepted by the shared ledger")
	}
	a.follow()
	if err := a.ledger.Spend("other", now, 0.5, 4); err != nil {
		t.Fatalf("a follower's local charge (no mirror): %v", err)
	}
	// Leading again, a merges what b spent.
	if err := a.lead(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.ledger.Spent("health", now); got != 4 {
		t.Fatalf("a, leading again, counts %v spent, want 4", got)
	}
}

// openDataStore opens the store `sextant serve --data data` would, closed
// when the test ends.
func openDataStore(t *testing.T, data string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), defaultDSN(data), store.WithClock(clock.Real))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
