package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/health"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// countingFeed is a health aggregator that also counts exactly what it
// was fed (the aggregator releases only noisy sums): each device's
// inferences and reports. After crashAfter reports (when positive) it
// fails once, like a consumer dying mid-batch.
type countingFeed struct {
	agg        *health.Aggregator
	mu         sync.Mutex
	inferences map[string]int64
	// received holds the receipt times fed, by device (UnixNano).
	received   map[string]map[int64]bool
	reports    int
	crashAfter int
	crashed    bool
}

func newCountingFeed(t *testing.T, crashAfter int) *countingFeed {
	ledger, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "health-ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	agg, err := health.New(health.Config{Ledger: ledger, Clock: clock.Real})
	if err != nil {
		t.Fatal(err)
	}
	return &countingFeed{agg: agg, inferences: map[string]int64{}, received: map[string]map[int64]bool{}, crashAfter: crashAfter}
}

func (f *countingFeed) IngestAt(ctx context.Context, device string, rep *dhealth.Report, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashAfter > 0 && f.reports == f.crashAfter && !f.crashed {
		f.crashed = true
		return errors.New("consumer crashed")
	}
	if time.Since(at) > time.Minute || time.Until(at) > time.Minute {
		return fmt.Errorf("report received at %v, not about now", at)
	}
	if err := f.agg.IngestAt(ctx, device, rep, at); err != nil {
		return err
	}
	f.reports++
	if f.received[device] == nil {
		f.received[device] = map[int64]bool{}
	}
	f.received[device][at.UnixNano()] = true
	for _, e := range rep.Entries {
		f.inferences[device] += e.Inferences
	}
	return nil
}

func (f *countingFeed) counts() (int, map[string]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int64, len(f.inferences))
	for k, v := range f.inferences {
		m[k] = v
	}
	return f.reports, m
}

// healthBuses returns the two replicas' buses: two connections to the
// external server, or (embedded) the one in-process server both share.
func healthBuses(t *testing.T, embedded bool) (a, b *messaging.Bus) {
	var pfx [4]byte
	rand.Read(pfx[:])
	prefix := "sxtest" + hex.EncodeToString(pfx[:])
	if embedded {
		bus, err := messaging.Open(t.Context(), messaging.Config{Dir: t.TempDir(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bus.Close)
		return bus, bus
	}
	a, b = openBus(t, prefix), openBus(t, prefix)
	t.Cleanup(func() { b.Delete(context.Background(), HealthStream) })
	return a, b
}

// TestHealthQueueReplicas: two replicas receive the devices' health
// reports with their check-ins over HTTP and publish them to JetStream;
// the leader's consumer folds them into one aggregate. A consumer that
// fails mid-stream resumes without counting a report twice; when the
// leader dies, the replica that takes over rebuilds the aggregate from the
// stream and sees every acknowledged report exactly once, including those
// that arrived after the crash.
func TestHealthQueueReplicas(t *testing.T) {
	for _, embedded := range []bool{true, false} {
		name := map[bool]string{true: "embedded", false: "external"}[embedded]
		t.Run(name, func(t *testing.T) { testHealthQueueReplicas(t, embedded) })
	}
}

func testHealthQueueReplicas(t *testing.T, embedded bool) {
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	busA, busB := healthBuses(t, embedded)
	kd, _ := keyDir(t)
	log := slog.New(slog.DiscardHandler)
	feedA, feedB := newCountingFeed(t, 7), newCountingFeed(t, 0)
	qA := NewHealthQueue(busA, feedA, nil, log)
	qB := NewHealthQueue(busB, feedB, nil, log)
	if err := qA.Declare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := qB.Declare(ctx); err != nil { // both replicas declare at start
		t.Fatal(err)
	}
	a := start(t, dsn, t.TempDir(), kd, func(c *Config) { c.Health = qA })
	b := start(t, dsn, t.TempDir(), kd, func(c *Config) { c.Health = qB })
	_, enroll := a.token(t, delivery.ScopeEnroll)

	const devices = 12
	regs := make([]Registration, devices)
	truth := map[string]int64{}
	reports := 0
	checkIn := func(r *running, i int, n int) {
		t.Helper()
		rec := dhealth.NewRecorder()
		for j := range n {
			rec.Inference("eta", "1.0.0", time.Millisecond, j%10 == 0)
		}
		ci := manifest
		ci.Health = rec.Take()
		if _, err := r.client(regs[i].Credential).CheckIn(ctx, regs[i].ID, ci); err != nil {
			t.Fatalf("device %d check-in: %v", i, err)
		}
		truth[regs[i].ID] += int64(n)
		reports++
	}
	for i := range regs {
		var err error
		if regs[i], err = a.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", Region: "CH"}); err != nil {
			t.Fatal(err)
		}
		checkIn(a, i, 10+i)
		checkIn(b, i, 100+i)
	}
	// An invalid report is refused at the replica, not published.
	bad := &dhealth.Report{Entries: []dhealth.Entry{{Model: "eta", Version: "1.0.0", Inferences: -1}}}
	if err := qB.Ingest(ctx, "dev", bad); !errors.Is(err, dhealth.ErrInvalid) {
		t.Fatalf("invalid report: %v", err)
	}

	// Leader A's consumer fails after 7 reports; the next Run resumes.
	if err := qA.Run(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("the consumer survived its crash: %v", err)
	}
	if n, _ := feedA.counts(); n != 7 {
		t.Fatalf("folded %d reports before the crash, want 7", n)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- qA.Run(rctx) }()
	waitFolded(t, qA, feedA, reports)
	stop()
	<-done
	assertExact(t, "leader a after its consumer's crash", feedA, reports, truth)
	if got := feedA.agg.Devices("eta", "1.0.0"); got != devices {
		t.Fatalf("aggregate has %d devices, want %d", got, devices)
	}

	// A dies. Reports keep coming to B, which takes over with nothing in
	// memory and replays the stream.
	a.stop()
	for i := range regs {
		checkIn(b, i, 1000+i)
	}
	rctx, stop = context.WithCancel(ctx)
	defer stop()
	go qB.Run(rctx)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := qB.CatchUp(cctx); err != nil {
		t.Fatalf("catch up: %v", err)
	}
	assertExact(t, "leader b after the takeover", feedB, reports, truth)
	// B leads again after a spell as follower: it resumes, never refolds.
	stop()
	for i := range 3 {
		checkIn(b, i, 7)
	}
	rctx, stop = context.WithCancel(ctx)
	defer stop()
	go qB.Run(rctx)
	if err := qB.CatchUp(cctx); err != nil {
		t.Fatalf("catch up: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong refold
	assertExact(t, "leader b leading again", feedB, reports, truth)
	// Each report is folded at the time it entered the stream, the same on
	// every replica and every redelivery (the day it counts on,
	// delivery/health.Aggregator.IngestAt): b replayed a's reports at the
	// times a folded them.
	feedA.mu.Lock()
	defer feedA.mu.Unlock()
	feedB.mu.Lock()
	defer feedB.mu.Unlock()
	for dev, ats := range feedA.received {
		for at := range ats {
			if !feedB.received[dev][at] {
				t.Fatalf("device %s: a folded a report received at %v, b never at that time", dev, time.Unix(0, at).UTC())
			}
		}
	}
}

// waitFolded waits until feed has folded n reports (or 30 s pass).
func waitFolded(t *testing.T, q *HealthQueue, feed *countingFeed, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := feed.counts()
		if got >= n {
			time.Sleep(300 * time.Millisecond) // room for a wrong refold
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("folded %d of %d reports (stream position %d)", got, n, q.Folded())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertExact(t *testing.T, who string, feed *countingFeed, reports int, truth map[string]int64) {
	t.Helper()
	n, got := feed.counts()
	if n != reports {
		t.Fatalf("%s: folded %d reports, want %d", who, n, reports)
	}
	for d, want := range truth {
		if got[d] != want {
			t.Fatalf("%s: device %s: %d inferences, want %d", who, d, got[d], want)
		}
	}
	if len(got) != len(truth) {
		t.Fatalf("%s: %d devices, want %d", who, len(got), len(truth))
	}
}

// BenchmarkHealthIngest is the cost a health report adds to a check-in:
// folded into the aggregator in process (before JetStream), or published
// to the stream (embedded server, and the external one).
func BenchmarkHealthIngest(b *testing.B) {
	rec := dhealth.NewRecorder()
	for j := range 200 {
		rec.Inference("eta", "1.0.0", time.Duration(j)*time.Microsecond, j%20 == 0)
	}
	rep := rec.Take()
	ledger, err := telemetry.OpenLedger(filepath.Join(b.TempDir(), "ledger.json"))
	if err != nil {
		b.Fatal(err)
	}
	agg, err := health.New(health.Config{Ledger: ledger})
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, sink HealthSink) {
		for i := 0; b.Loop(); i++ {
			if err := sink.Ingest(b.Context(), fmt.Sprint("d", i%1000), rep); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("aggregator", func(b *testing.B) { run(b, agg) })
	for _, embedded := range []bool{true, false} {
		name := map[bool]string{true: "embedded", false: "external"}[embedded]
		b.Run(name, func(b *testing.B) {
			bus := benchBus(b, embedded)
			q := NewHealthQueue(bus, nil, nil, nil)
			if err := q.Declare(b.Context()); err != nil {
				b.Fatal(err)
			}
			run(b, q)
		})
	}
}

func benchBus(b *testing.B, embedded bool) *messaging.Bus {
	var pfx [4]byte
	rand.Read(pfx[:])
	cfg := messaging.Config{Prefix: "sxbench" + hex.EncodeToString(pfx[:]), Logger: slog.New(slog.DiscardHandler)}
	if embedded {
		cfg.Dir = b.TempDir()
	} else if cfg.URL = os.Getenv("SEXTANT_TEST_NATS"); cfg.URL == "" {
		cfg.URL = "nats://127.0.0.1:4222"
	}
	bus, err := messaging.Open(b.Context(), cfg)
	if err != nil {
		b.Skipf("NATS: %v", err)
	}
	b.Cleanup(func() {
		bus.Delete(context.Background(), HealthStream)
		bus.Close()
	})
	return bus
}
