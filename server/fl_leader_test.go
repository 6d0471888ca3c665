package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/lease"
)

// TestFLLeaderFailover: two replicas share PostgreSQL; the lease holder
// runs the federated task's rounds for devices that reach it over HTTP.
// The leader is killed with the task's second round in flight; the other
// replica takes over from the committed state, the task continues, and
// each round's candidate is registered once, in order, with the privacy
// spent carried across the failover. The deposed leader's late commit is
// refused.
func TestFLLeaderFailover(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kd, tk := keyDir(t)
	a, b := flReplicas(t, dsn, kd)
	enroll := flBase(t, ctx, a, kd, tk)
	const devices = 5
	task := flDPTask("e2e", devices)
	ra, leader := flFailover(t, dsn, a, b, task)

	// The devices follow the leader (a load balancer's job at scale).
	tr := httptransport.New(nil)
	regs, stopDevices := flDevices(t, ctx, a, enroll, task.Name, devices, func(_ int, reg Registration) *client.HTTPConn {
		return &client.HTTPConn{Base: *leader.Load(), Device: reg.ID, Credential: reg.Credential, Get: tr, Post: tr}
	})
	last := regs[len(regs)-1]
	probe := &client.HTTPConn{Base: a.url, Device: last.ID, Credential: last.Credential, Get: tr, Post: tr}

	waitUntil(t, time.Minute, "round 1 on a", func() bool { _, ok := candidate(t, ctx, b.db, "1.1.0-fl.1"); return ok })
	// Kill a with round 2 in flight.
	waitUntil(t, 10*time.Second, "round 2 on a", func() bool {
		st, err := probe.Status(ctx, task.Name, probe.Device)
		return err == nil && st.Round == 2 && st.Open
	})
	oldFence := *ra.fence.Load()
	flTakeOver(t, ctx, ra, b, leader)
	stopDevices()

	c1, c2, c3 := flThreeRounds(t, ctx, b.db)
	if c1.PublishedBy != "fl:e2e" || c2.PublishedBy != "fl:e2e" {
		t.Fatalf("published by %q, %q", c1.PublishedBy, c2.PublishedBy)
	}
	if len(c3.Lineage.FederatedRounds) != 3 {
		t.Fatalf("round 3's lineage: %v", c3.Lineage.FederatedRounds)
	}
	// The shared state: three committed rounds at least, none twice, the
	// attempt a lost recorded as failed, no attempt id used twice.
	st, raw := loadFLState(t, ctx, b.db, task.Name)
	seen, failed := committedOnce(t, st), 0
	for _, h := range st.History {
		if !h.Committed {
			failed++
		}
	}
	if st.Rounds < 3 || !seen[1] || !seen[2] || !seen[3] || failed < 1 {
		t.Fatalf("state: %d rounds, history %+v", st.Rounds, st.History)
	}
	t.Logf("%d rounds committed, %d attempts failed; ε %.3f → %.3f → %.3f", st.Rounds, failed,
		c1.Lineage.Privacy.Epsilon, c2.Lineage.Privacy.Epsilon, c3.Lineage.Privacy.Epsilon)
	// a's late commit, with the epoch it was granted, is refused.
	err := b.db.SaveFLTask(lease.WithFence(ctx, oldFence), task.Name, 1<<40, raw)
	if !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed leader's commit: %v", err)
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
