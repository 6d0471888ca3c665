package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/delivery/targeting"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/store"
)

// leaderChildEnv carries the DSN to a re-executed test binary that plays
// one `sextant serve` replica's rollout driver.
const leaderChildEnv = "SEXTANT_TEST_LEADER_CHILD_DSN"

// TestLeaderFailoverChild is the replica process of TestLeaderFailover;
// it is skipped unless that test started it. It drives rollouts as
// `sextant serve` does until it is killed.
func TestLeaderFailoverChild(t *testing.T) {
	dsn := os.Getenv(leaderChildEnv)
	if dsn == "" {
		t.Skip("run by TestLeaderFailover")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, dsn, store.WithClock(clock.Real))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctl, err := newRolloutController(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	d := &rolloutDriver{ctl: ctl, interval: 40 * time.Millisecond, log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	d.run(ctx, dsn, db.Dialect(), os.Getenv("SEXTANT_TEST_LEADER_NAME"))
}

// TestLeaderFailover: two replica processes share PostgreSQL; the leader
// is SIGKILLed mid-rollout, the follower takes the lease over within
// seconds and finishes the rollout, and the history records every
// transition exactly once.
func TestLeaderFailover(t *testing.T) {
	if os.Getenv(leaderChildEnv) != "" {
		t.Skip("child")
	}
	dsn := pgtest.Schema(t)
	ctx := t.Context()
	db, err := store.Open(ctx, dsn, store.WithClock(clock.Real))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const stages = 12
	spec := rollout.Spec{ID: "r1", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Rule: targeting.Rule{Region: []string{"NL"}}}
	for i := range stages {
		spec.Stages = append(spec.Stages, rollout.Stage{Share: uint32(100 * (i + 1)), Bake: 250 * time.Millisecond})
	}
	ctl, err := newRolloutController(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Create(spec); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start("r1", "op"); err != nil {
		t.Fatal(err)
	}

	admin := pgtest.DB(t, dsn)
	a := startReplica(t, dsn, "a")
	waitFor(t, 10*time.Second, "a to lead", func() bool { return leaseHolder(t, admin) == "a" })
	startReplica(t, dsn, "b")
	waitFor(t, 10*time.Second, "the rollout to reach stage 3", func() bool { return stored(t, db).Stage >= 3 })
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, 5*time.Second, "b to take over", func() bool { return leaseHolder(t, admin) == "b" })
	t.Logf("b took over %v after a was killed", time.Since(killed).Round(time.Millisecond))
	waitFor(t, 20*time.Second, "the rollout to complete", func() bool { return stored(t, db).State == rollout.Completed })

	st := stored(t, db)
	h := st.History
	if len(h) != 2+stages {
		t.Fatalf("%d transitions, want %d:\n%+v", len(h), 2+stages, h)
	}
	for i, r := range h[2:] {
		want, to := i+1, rollout.Baking
		if i == stages-1 {
			want, to = stages-1, rollout.Completed
		}
		if r.To != to || r.Stage != want || r.Actor != rollout.Actor {
			t.Fatalf("transition %d: %+v, want to %s stage %d", i+2, r, to, want)
		}
	}
	var epoch int64
	if err := admin.QueryRow(`SELECT epoch FROM leases WHERE name = $1`, rolloutLease).Scan(&epoch); err != nil || epoch != 2 {
		t.Fatalf("lease epoch %d (%v), want 2: one grant each", epoch, err)
	}
}

func startReplica(t *testing.T, dsn, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaderFailoverChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), leaderChildEnv+"="+dsn, "SEXTANT_TEST_LEADER_NAME="+name)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func leaseHolder(t *testing.T, admin *sql.DB) string {
	var h string
	err := admin.QueryRow(`SELECT holder FROM leases WHERE name = $1`, rolloutLease).Scan(&h)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return h
}

// stored is rollout r1 as the database holds it.
func stored(t *testing.T, db *store.DB) rollout.Status {
	t.Helper()
	ctl, err := newRolloutController(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ctl.Status("r1")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
