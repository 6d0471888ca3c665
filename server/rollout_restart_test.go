package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/delivery/targeting"
	"github.com/sextant-ml/sextant/store"
)

// TestRolloutSurvivesRestart: a rollout baking at 50 % is saved in the
// store; a server restarted over the same store restores it in the same
// state, stage and stage start, its director assigns every device the
// version it had before, and a later transition is saved again.
func TestRolloutSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	kd, tk := keyDir(t)
	dsn, dir := "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), t.TempDir()
	// withRollouts restores the controller from the server's store, as
	// `sextant serve` does.
	withRollouts := func(c *Config) {
		db := c.Store.(*store.DB)
		ctl, err := rollout.Restore(ctx, clock.Real, noArms{}, rollout.Options{Pointer: db, Persister: db})
		if err != nil {
			t.Fatal(err)
		}
		c.Rollouts = ctl
	}
	r := start(t, dsn, dir, kd, withRollouts)
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	p1, _ := testBundle(t, t.TempDir(), "eta", "1.0.0", "", 100)
	publish(t, r.client(pub), kd, tk, p1, "eta")
	p2, _ := testBundle(t, t.TempDir(), "eta", "2.0.0", "1.0.0", 100)
	publish(t, r.client(pub), kd, tk, p2, "eta")
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	const n = 30
	regs := make([]Registration, n)
	for i := range regs {
		var err error
		if regs[i], err = r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", Region: "CH"}); err != nil {
			t.Fatal(err)
		}
	}
	spec := rollout.Spec{ID: "eta-2", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Rule:   targeting.Rule{Region: []string{"CH"}},
		Stages: []rollout.Stage{{Share: 5000, Bake: 1 << 62}, {Share: 9000}}}
	before, err := r.client(roll).CreateRollout(ctx, spec)
	if err != nil || before.State != rollout.Baking || before.Share != 5000 {
		t.Fatalf("create: %+v, %v", before, err)
	}
	versions := make([]string, n)
	count := map[string]int{}
	for i, reg := range regs {
		versions[i] = directorVersion(t, r, reg, "CH")
		count[versions[i]]++
	}
	if count["1.0.0"] == 0 || count["2.0.0"] == 0 {
		t.Fatalf("the 50 %% stage assigned %v: the test does not discriminate", count)
	}

	r.stop()
	r = start(t, dsn, dir, kd, withRollouts)
	after, err := r.client(roll).Rollout(ctx, "eta-2")
	if err != nil {
		t.Fatal(err)
	}
	if after.State != rollout.Baking || after.Stage != 0 || after.Share != 5000 ||
		!after.StageStarted.Equal(before.StageStarted) || len(after.History) != len(before.History) ||
		after.History[1].Actor != before.History[1].Actor {
		t.Fatalf("after restart %+v\nbefore %+v", after, before)
	}
	for i, reg := range regs {
		if got := directorVersion(t, r, reg, "CH"); got != versions[i] {
			t.Errorf("device %d: %s before the restart, %s after", i, versions[i], got)
		}
	}
	// The model's rollout is still active: a second one is refused.
	dup := spec
	dup.ID = "eta-2b"
	if _, err := r.client(roll).CreateRollout(ctx, dup); err == nil {
		t.Fatal("a second active rollout of eta was accepted after the restart")
	}

	// A transition after the restart is saved too.
	if st, err := r.client(roll).RolloutAct(ctx, "eta-2", "advance", "looks fine"); err != nil || st.Share != 9000 {
		t.Fatalf("advance: %+v, %v", st, err)
	}
	r.stop()
	r = start(t, dsn, dir, kd, withRollouts)
	if st, err := r.client(roll).Rollout(ctx, "eta-2"); err != nil || st.Stage != 1 || st.Share != 9000 || len(st.History) != 3 {
		t.Fatalf("after the second restart: %+v, %v", st, err)
	}
}
