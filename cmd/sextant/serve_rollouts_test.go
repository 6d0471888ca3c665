package main

import (
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/store"
)

// TestServeRolloutsPersist: the controller `sextant serve` builds saves
// its rollouts in the database and a new one over the same database
// restores them (the restart of serve).
func TestServeRolloutsPersist(t *testing.T) {
	ctx := t.Context()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "sextant.db")
	db, err := store.Open(ctx, dsn, store.WithClock(clock.Real))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := newRolloutController(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	spec := rollout.Spec{ID: "r1", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Stages: []rollout.Stage{{Share: 5000, Bake: 1 << 62}, {Share: 9000}}}
	if _, err := ctl.Create(spec); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start("r1", "op"); err != nil {
		t.Fatal(err)
	}
	before, _ := ctl.Status("r1")
	db.Close()

	db, err = store.Open(ctx, dsn, store.WithClock(clock.Real))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctl, err = newRolloutController(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ctl.Status("r1")
	if err != nil || after.State != rollout.Baking || after.Share != 5000 ||
		!after.StageStarted.Equal(before.StageStarted) || len(after.History) != 2 {
		t.Fatalf("restored %+v, %v\nsaved %+v", after, err, before)
	}
}
