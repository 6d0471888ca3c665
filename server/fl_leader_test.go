package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/lease"
	"github.com/sextant-ml/sextant/store"
	"github.com/sextant-ml/sextant/tensor"
)

// flBundle writes flModel as fl-e2e@version.
func flBundle(t *testing.T, version string) string {
	t.Helper()
	g, _ := flModel()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: "fl-e2e", Version: version, Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC()}}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, g, m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fl-e2e.sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// replica is one in-process `sextant serve` replica that campaigns for the
// lease and, while it leads, runs the federated task.
type replica struct {
	name   string
	r      *running
	cancel context.CancelFunc
	done   chan struct{}
	fence  atomic.Pointer[lease.Fence]
}

func campaign(t *testing.T, dsn, name string, r *running, task FLTask, leader *atomic.Pointer[string]) *replica {
	ctx, cancel := context.WithCancel(context.Background())
	rp := &replica{name: name, r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rp.done)
		lease.Campaign(ctx, lease.Config{DSN: dsn, Name: "leader", Holder: name, Poll: 100 * time.Millisecond},
			func(ctx context.Context, f lease.Fence) {
				rp.fence.Store(&f)
				url := r.url
				leader.Store(&url)
				for ctx.Err() == nil {
					err := r.srv.LeadFL(ctx, r.db, task)
					if err == nil {
						return // budget spent
					}
					if ctx.Err() == nil {
						t.Logf("%s: lead fl: %v", name, err)
						time.Sleep(100 * time.Millisecond)
					}
				}
			})
	}()
	t.Cleanup(rp.kill)
	return rp
}

// kill ends the replica as a crash would: the lease's connection closes
// and the server stops answering.
func (rp *replica) kill() {
	if rp.cancel == nil {
		return
	}
	rp.cancel()
	<-rp.done
	rp.r.stop()
	rp.cancel = nil
}

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
	dirA := t.TempDir()
	a := start(t, dsn, dirA, kd, nil)
	b := start(t, dsn, t.TempDir(), kd, func(c *Config) {
		// The replicas share their blobs (S3 at scale).
		var err error
		if c.Blobs, err = store.NewBlobs(filepath.Join(dirA, "blobs")); err != nil {
			t.Fatal(err)
		}
	})
	_, pub := a.token(t, delivery.ScopePublish)
	_, roll := a.token(t, delivery.ScopeRollout)
	_, enroll := a.token(t, delivery.ScopeEnroll)
	publish(t, a.client(pub), kd, tk, flBundle(t, "1.0.0"), "fl-e2e")
	if _, err := a.client(roll).SetCurrent(ctx, "fl-e2e", "1.0.0"); err != nil {
		t.Fatal(err)
	}

	const devices = 5
	task := fl.Task{
		Name: "e2e", Model: "fl-e2e",
		Plan: client.Plan{Epochs: 2, BatchSize: 8, LR: 0.02, Params: []string{"w", "b"}, Loss: client.LossMSE, Output: "pred",
			ClipNorm: 5, NoiseMultiplier: 0.05},
		Population: devices, Target: devices, OverSelection: 1, MinReports: devices - 1,
		SelectionWindow: 1500 * time.Millisecond, RoundDeadline: 30 * time.Second,
		Optimizer: fl.ServerOptimizer{Kind: fl.FedAvg}, SecureAggregation: true,
	}
	var leader atomic.Pointer[string]
	ra := campaign(t, dsn, "a", a, FLTask{Task: task, Dir: t.TempDir(), StepTimeout: 5 * time.Second}, &leader)
	waitUntil(t, 10*time.Second, "a to lead", func() bool { u := leader.Load(); return u != nil && *u == a.url })
	campaign(t, dsn, "b", b, FLTask{Task: task, Dir: t.TempDir(), StepTimeout: 5 * time.Second}, &leader)

	// The devices follow the leader (a load balancer's job at scale).
	tr := httptransport.New(nil)
	var wg sync.WaitGroup
	dctx, stopDevices := context.WithCancel(ctx)
	defer func() { stopDevices(); wg.Wait() }()
	var probe *client.HTTPConn
	for i := range devices {
		reg, err := a.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", OS: "android 14"})
		if err != nil {
			t.Fatal(err)
		}
		probe = &client.HTTPConn{Base: a.url, Device: reg.ID, Credential: reg.Credential, Get: tr, Post: tr}
		wg.Go(func() {
			for dctx.Err() == nil {
				conn := &client.HTTPConn{Base: *leader.Load(), Device: reg.ID, Credential: reg.Credential, Get: tr, Post: tr}
				m, _ := flModel()
				p := &client.Participant{Device: reg.ID, Task: task.Name, Conn: conn, Model: m,
					Data: func() ([]*tensor.Tensor, error) { return flData(i), nil }, Poll: 10 * time.Millisecond}
				out, err := p.Once(dctx)
				if err != nil || !out.Joined {
					time.Sleep(20 * time.Millisecond) // no round open, or its replica died
				}
			}
		})
	}

	candidate := func(v string) (delivery.Version, bool) {
		got, err := b.db.GetVersion(ctx, "fl-e2e", v)
		if errors.Is(err, delivery.ErrNotFound) {
			return got, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return got, true
	}
	waitUntil(t, time.Minute, "round 1 on a", func() bool { _, ok := candidate("1.1.0-fl.1"); return ok })
	// Kill a with round 2 in flight.
	waitUntil(t, 10*time.Second, "round 2 on a", func() bool {
		st, err := probe.Status(ctx, task.Name, probe.Device)
		return err == nil && st.Round == 2 && st.Open
	})
	oldFence := *ra.fence.Load()
	ra.kill()
	killed := time.Now()
	waitUntil(t, 10*time.Second, "b to lead", func() bool { return *leader.Load() == b.url })
	t.Logf("b leads %v after a was killed", time.Since(killed).Round(time.Millisecond))
	waitUntil(t, time.Minute, "round 3 on b", func() bool { _, ok := candidate("1.1.0-fl.3"); return ok })
	stopDevices()

	c1, _ := candidate("1.1.0-fl.1")
	c2, ok2 := candidate("1.1.0-fl.2")
	c3, _ := candidate("1.1.0-fl.3")
	if !ok2 || c1.Parent != "1.0.0" || c2.Parent != "1.1.0-fl.1" || c3.Parent != "1.1.0-fl.2" {
		t.Fatalf("candidates' parents: %q, %q, %q", c1.Parent, c2.Parent, c3.Parent)
	}
	if c1.PublishedBy != "fl:e2e" || c2.PublishedBy != "fl:e2e" {
		t.Fatalf("published by %q, %q", c1.PublishedBy, c2.PublishedBy)
	}
	e1, e2, e3 := c1.Lineage.Privacy.Epsilon, c2.Lineage.Privacy.Epsilon, c3.Lineage.Privacy.Epsilon
	if !(0 < e1 && e1 < e2 && e2 < e3) {
		t.Fatalf("ε after rounds 1–3: %g, %g, %g: the privacy ledger did not carry over", e1, e2, e3)
	}
	if len(c3.Lineage.FederatedRounds) != 3 {
		t.Fatalf("round 3's lineage: %v", c3.Lineage.FederatedRounds)
	}
	// The shared state: three committed rounds at least, none twice, the
	// attempt a lost recorded as failed, no attempt id used twice.
	_, raw, err := b.db.LoadFLTask(ctx, task.Name)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		State struct {
			Rounds  int              `json:"rounds"`
			History []fl.RoundRecord `json:"history"`
		} `json:"state"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	seen, failed, attempts := map[int]bool{}, 0, map[uint64]bool{}
	for _, h := range doc.State.History {
		if attempts[h.Attempt] {
			t.Fatalf("attempt id %d used twice: %+v", h.Attempt, doc.State.History)
		}
		attempts[h.Attempt] = true
		if !h.Committed {
			failed++
			continue
		}
		if seen[h.Round] {
			t.Fatalf("round %d committed twice: %+v", h.Round, doc.State.History)
		}
		seen[h.Round] = true
	}
	if doc.State.Rounds < 3 || !seen[1] || !seen[2] || !seen[3] || failed < 1 {
		t.Fatalf("state: %d rounds, history %+v", doc.State.Rounds, doc.State.History)
	}
	t.Logf("%d rounds committed, %d attempts failed; ε %.3f → %.3f → %.3f", doc.State.Rounds, failed, e1, e2, e3)
	// a's late commit, with the epoch it was granted, is refused.
	err = b.db.SaveFLTask(lease.WithFence(ctx, oldFence), task.Name, 1<<40, raw)
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
