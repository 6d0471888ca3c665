package server

// The federated-learning tests' rig: the task's model and data, replicas
// on a shared store, the published base model, a task, simulated devices
// that take part round after round, and reads of what the rounds left.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/lease"
	"github.com/sextant-ml/sextant/store"
	"github.com/sextant-ml/sextant/tensor"
)

// flModel is pred = x·w + b on 4 features.
func flModel() (*graph.Graph, error) {
	b := graph.NewBuilder("fl-e2e", 17)
	b.Input("x", tensor.Float32, "batch", 4)
	b.Initializer("w", tensor.From(make([]float32, 4), 4, 1))
	b.Initializer("b", tensor.From([]float32{0}, 1))
	b.Node("Add", []string{b.Op("MatMul", nil, "x", "w"), "b"}, []string{"pred"}, nil)
	b.Output("pred")
	return b.Graph(), nil
}

// flData is device i's examples of y = x·(1, −2, 0.5, 3) + 1.
func flData(i int) []*tensor.Tensor {
	r := rand.New(rand.NewPCG(uint64(i), 99))
	const n = 16
	x, y := make([]float32, 0, 4*n), make([]float32, 0, n)
	for range n {
		var v float64 = 1
		for _, w := range []float64{1, -2, 0.5, 3} {
			f := r.NormFloat64() + float64(i%3)
			x = append(x, float32(f))
			v += w * f
		}
		y = append(y, float32(v))
	}
	return []*tensor.Tensor{tensor.From(x, n, 4), tensor.From(y, n, 1)}
}

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

// flTask is the task the tests run on flModel over devices devices: one
// epoch with clipping and no noise, every device selected and reporting,
// secure aggregation, FedAvg. Tests adjust what they need otherwise.
func flTask(name string, devices int) fl.Task {
	return fl.Task{
		Name: name, Model: "fl-e2e",
		Plan: client.Plan{Epochs: 1, BatchSize: 8, LR: 0.02, Params: []string{"w", "b"}, Loss: client.LossMSE, Output: "pred",
			ClipNorm: 5},
		Population: devices, Target: devices, OverSelection: 1, MinReports: devices,
		SelectionWindow: 1500 * time.Millisecond, RoundDeadline: 30 * time.Second,
		Optimizer: fl.ServerOptimizer{Kind: fl.FedAvg}, SecureAggregation: true,
	}
}

// flDPTask is flTask with two epochs, central DP noise and one device's
// report to spare: the failover tests' task.
func flDPTask(name string, devices int) fl.Task {
	task := flTask(name, devices)
	task.Plan.Epochs, task.Plan.NoiseMultiplier, task.MinReports = 2, 0.05, devices-1
	return task
}

// flReplicas starts two servers on dsn that share a's blob directory (S3
// at scale), as `sextant serve` replicas do.
func flReplicas(t *testing.T, dsn string, kd signing.KeyDir) (a, b *running) {
	t.Helper()
	dirA := t.TempDir()
	a = start(t, dsn, dirA, kd, nil)
	b = start(t, dsn, t.TempDir(), kd, func(c *Config) {
		var err error
		if c.Blobs, err = store.NewBlobs(filepath.Join(dirA, "blobs")); err != nil {
			t.Fatal(err)
		}
	})
	return a, b
}

// flBase publishes fl-e2e@1.0.0 through r, signed with tk, makes it the
// current version, and returns an enrolment token's secret for the devices.
func flBase(t *testing.T, ctx context.Context, r *running, kd signing.KeyDir, tk *signing.Key) (enroll string) {
	t.Helper()
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll = r.token(t, delivery.ScopeEnroll)
	publish(t, r.client(pub), kd, tk, flBundle(t, "1.0.0"), "fl-e2e")
	if _, err := r.client(roll).SetCurrent(ctx, "fl-e2e", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	return enroll
}

// flDevices enrols n devices through r and runs each as fl/client over HTTP
// in task's rounds, one after another, until stop (or the test's end);
// conn gives device i's connection for its next round. stop waits for the
// devices and may be called more than once.
func flDevices(t *testing.T, ctx context.Context, r *running, enroll, task string, n int,
	conn func(i int, reg Registration) *client.HTTPConn) (regs []Registration, stop func()) {
	t.Helper()
	var wg sync.WaitGroup
	dctx, cancel := context.WithCancel(ctx)
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	for i := range n {
		reg, err := r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", OS: "android 14"})
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, reg)
		wg.Go(func() {
			for dctx.Err() == nil {
				m, _ := flModel()
				p := &client.Participant{Device: reg.ID, Task: task, Conn: conn(i, reg), Model: m,
					Data: func() ([]*tensor.Tensor, error) { return flData(i), nil }, Poll: 10 * time.Millisecond}
				if out, err := p.Once(dctx); err != nil || !out.Joined {
					time.Sleep(20 * time.Millisecond) // no round open, or its replica died
				}
			}
		})
	}
	return regs, stop
}

// flLead runs task's rounds on r as its sole leader until the test ends.
func flLead(t *testing.T, ctx context.Context, r *running, task FLTask) {
	lctx, stop := context.WithCancel(ctx)
	led := make(chan error, 1)
	go func() { led <- r.srv.LeadFL(lctx, r.db, task) }()
	t.Cleanup(func() { stop(); <-led })
}

// candidate reads fl-e2e@v from db; ok is false while it is not registered.
func candidate(t *testing.T, ctx context.Context, db *store.DB, v string) (delivery.Version, bool) {
	got, err := db.GetVersion(ctx, "fl-e2e", v)
	if errors.Is(err, delivery.ErrNotFound) {
		return got, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return got, true
}

// flThreeRounds checks the candidates of rounds 1–3 in db: each the child
// of the one before, with the privacy spent growing round after round
// (the ledger carried across a failover). It returns them.
func flThreeRounds(t *testing.T, ctx context.Context, db *store.DB) (c1, c2, c3 delivery.Version) {
	t.Helper()
	c1, _ = candidate(t, ctx, db, "1.1.0-fl.1")
	c2, _ = candidate(t, ctx, db, "1.1.0-fl.2")
	c3, _ = candidate(t, ctx, db, "1.1.0-fl.3")
	if c1.Parent != "1.0.0" || c2.Parent != "1.1.0-fl.1" || c3.Parent != "1.1.0-fl.2" {
		t.Fatalf("candidates' parents: %q, %q, %q", c1.Parent, c2.Parent, c3.Parent)
	}
	e1, e2, e3 := c1.Lineage.Privacy.Epsilon, c2.Lineage.Privacy.Epsilon, c3.Lineage.Privacy.Epsilon
	if !(0 < e1 && e1 < e2 && e2 < e3) {
		t.Fatalf("ε after rounds 1–3: %g, %g, %g: the privacy ledger did not carry over", e1, e2, e3)
	}
	return c1, c2, c3
}

// flState is the part of a task's stored document the tests read.
type flState struct {
	Rounds  int              `json:"rounds"`
	History []fl.RoundRecord `json:"history"`
}

// loadFLState reads task's committed state from db, and the document as
// stored.
func loadFLState(t *testing.T, ctx context.Context, db *store.DB, task string) (flState, []byte) {
	t.Helper()
	_, raw, err := db.LoadFLTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		State flState `json:"state"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.State, raw
}

// committedOnce fails t if an attempt id is on st's record twice or a
// round committed twice; it returns the rounds committed.
func committedOnce(t *testing.T, st flState) map[int]bool {
	t.Helper()
	seen, attempts := map[int]bool{}, map[uint64]bool{}
	for _, h := range st.History {
		if attempts[h.Attempt] {
			t.Fatalf("attempt id %d used twice: %+v", h.Attempt, st.History)
		}
		attempts[h.Attempt] = true
		if !h.Committed {
			continue
		}
		if seen[h.Round] {
			t.Fatalf("round %d committed twice: %+v", h.Round, st.History)
		}
		seen[h.Round] = true
	}
	return seen
}

// deviceCall makes device d's call method path (below /v1/devices/{id})
// to base with body, the seat header set unless seat is "", and returns
// the answer's status and body.
func deviceCall(t *testing.T, ctx context.Context, base string, d Registration, method, path, seat, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, base+"/v1/devices/"+d.ID+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Credential)
	if seat != "" {
		req.Header.Set(seatHeader, seat)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
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

// flFailover has a and b campaign for the lease to run task and waits for a
// to lead; leader holds the URL of the replica that leads.
func flFailover(t *testing.T, dsn string, a, b *running, task fl.Task) (ra *replica, leader *atomic.Pointer[string]) {
	t.Helper()
	leader = new(atomic.Pointer[string])
	ra = campaign(t, dsn, "a", a, FLTask{Task: task, Dir: t.TempDir(), StepTimeout: 5 * time.Second}, leader)
	waitUntil(t, 10*time.Second, "a to lead", func() bool { u := leader.Load(); return u != nil && *u == a.url })
	campaign(t, dsn, "b", b, FLTask{Task: task, Dir: t.TempDir(), StepTimeout: 5 * time.Second}, leader)
	return ra, leader
}

// flTakeOver kills ra, the leader, and waits for b to take the lease over
// and commit round 3.
func flTakeOver(t *testing.T, ctx context.Context, ra *replica, b *running, leader *atomic.Pointer[string]) {
	t.Helper()
	ra.kill()
	killed := time.Now()
	waitUntil(t, 10*time.Second, "b to lead", func() bool { return *leader.Load() == b.url })
	t.Logf("b leads %v after a was killed", time.Since(killed).Round(time.Millisecond))
	waitUntil(t, time.Minute, "round 3 on b", func() bool { _, ok := candidate(t, ctx, b.db, "1.1.0-fl.3"); return ok })
}
