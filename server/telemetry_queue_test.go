package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// crashingAggregates wraps the store's aggregates: after commits
// successful commits it runs crash (the process dying before the queue
// hears the ack); failFirst makes the first commit fail (a crash between
// receive and commit).
type crashingAggregates struct {
	TelemetryAggregates
	commits   int
	failFirst bool
	calls     atomic.Int32
	crash     func()
}

func (c *crashingAggregates) SaveTelemetryAggregate(ctx context.Context, stream string, seq uint64, doc []byte) error {
	n := c.calls.Add(1)
	if c.failFirst && n == 1 {
		return errors.New("crashed before commit")
	}
	if err := c.TelemetryAggregates.SaveTelemetryAggregate(ctx, stream, seq, doc); err != nil {
		return err
	}
	if c.crash != nil && int(n) == c.commits {
		c.crash()
	}
	return nil
}

func openBus(t *testing.T, prefix string) *messaging.Bus {
	t.Helper()
	url := os.Getenv("SEXTANT_TEST_NATS")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	b, err := messaging.Open(t.Context(), messaging.Config{URL: url, Prefix: prefix})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS JetStream at %s is required in CI: %v", url, err)
		}
		t.Skipf("NATS JetStream unreachable at %s (set SEXTANT_TEST_NATS): %v", url, err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestTelemetryQueueCrashes: reports go through JetStream to the
// aggregator; an aggregator that dies after committing but before
// acknowledging, and one whose commit fails, neither lose nor
// double-count a report: the next one (another replica) counts each
// exactly once, and the committed aggregate survives a restart.
func TestTelemetryQueueCrashes(t *testing.T) {
	kd, _ := keyDir(t)
	reg := telemetryRegistry(t)
	dsn := pgtest.Schema(t)
	var pfx [4]byte
	rand.Read(pfx[:])
	prefix := "sxtest" + hex.EncodeToString(pfx[:])
	opts := messaging.ConsumeOptions{Batch: 4, AckWait: time.Second}

	busA := openBus(t, prefix)
	var aggA *crashingAggregates
	a := start(t, dsn, t.TempDir(), kd, func(c *Config) {
		aggA = &crashingAggregates{TelemetryAggregates: c.Store.(TelemetryAggregates), commits: 1, crash: busA.Close}
		c.Telemetry = TelemetryConfig{Registry: reg, Queue: NewTelemetryQueue(busA, opts), Aggregates: aggA}
	})
	if err := a.srv.DeclareTelemetry(t.Context()); err != nil {
		t.Fatal(err)
	}
	// 12 batches of app_opened, each naming three screens.
	truth := map[string]int{}
	screens := []string{"map", "search", "settings", "nav"}
	sc, err := reg.Lookup("app_opened")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		var batch []byte
		for j := range 3 {
			s, err := sc.Item(map[string]any{"screen": screens[(i+j)%len(screens)]})
			if err != nil {
				t.Fatal(err)
			}
			rep := telemetry.AppendReport(nil, &telemetry.Report{Stream: "app_opened", Mechanism: telemetry.None, Item: []byte(s)})
			batch = telemetry.AppendBatchItem(batch, rep)
			truth[s]++
		}
		if code := postBatch(t, a.url, batch); code != 204 {
			t.Fatalf("batch %d: %d", i, code)
		}
	}
	if got := a.srv.telemetry.streams["app_opened"].n; got != 0 {
		t.Fatalf("queued reports were aggregated at once (%d)", got)
	}
	// A commits its first batch and dies before the ack.
	if err := a.srv.RunTelemetry(t.Context()); err == nil {
		t.Fatal("replica a's aggregator survived its crash")
	}
	if aggA.calls.Load() != 1 {
		t.Fatalf("a committed %d times, want 1 before its crash", aggA.calls.Load())
	}

	// B's first commit fails; then it consumes the rest.
	busB := openBus(t, prefix)
	t.Cleanup(func() { busB.Delete(context.Background(), telemetryTopic("app_opened")) })
	var aggB *crashingAggregates
	b := start(t, dsn, t.TempDir(), kd, func(c *Config) {
		aggB = &crashingAggregates{TelemetryAggregates: c.Store.(TelemetryAggregates), failFirst: true}
		c.Telemetry = TelemetryConfig{Registry: reg, Queue: NewTelemetryQueue(busB, opts), Aggregates: aggB}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	go b.srv.RunTelemetry(ctx)
	agg := b.srv.telemetry.streams["app_opened"]
	for {
		agg.mu.Lock()
		n := agg.n
		agg.mu.Unlock()
		if n >= 36 || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // room for a wrong late redelivery
	cancel()
	check := func(who string, agg *streamAgg) {
		agg.mu.Lock()
		defer agg.mu.Unlock()
		if agg.n != 36 {
			t.Fatalf("%s: %d reports aggregated, want 36", who, agg.n)
		}
		for s, n := range truth {
			if agg.public[s] != n {
				t.Fatalf("%s: screen %s counted %d, want %d (%v)", who, s, agg.public[s], n, agg.public)
			}
		}
	}
	check("b", agg)
	if aggB.calls.Load() < 2 {
		t.Fatalf("b committed %d times", aggB.calls.Load())
	}
	// A third replica loads the committed aggregate.
	c := start(t, dsn, t.TempDir(), kd, func(c *Config) {
		c.Telemetry = TelemetryConfig{Registry: reg, Queue: NewTelemetryQueue(busB, opts), Aggregates: c.Store.(TelemetryAggregates)}
	})
	if err := c.srv.ReloadTelemetry(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("reloaded", c.srv.telemetry.streams["app_opened"])
}
