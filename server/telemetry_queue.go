package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/privacy/ldp"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// TelemetryQueue is the durable queue between the report endpoint and
// the aggregator (NATS JetStream in `sextant serve`, package messaging).
// Each declared stream has its own queue, which keeps a batch at most the
// stream's declared retention and drops it once it is consumed.
type TelemetryQueue interface {
	// Declare creates (or updates) a stream's queue.
	Declare(ctx context.Context, stream string, retention time.Duration) error
	// Publish persists one batch of a stream's checked reports under the
	// idempotency key id.
	Publish(ctx context.Context, stream, id string, reports []byte) error
	// Consume hands the stream's batches to apply in queue order until
	// ctx ends; batches apply has not returned nil for are delivered
	// again, also after a crash.
	Consume(ctx context.Context, stream string, apply func(context.Context, []QueuedReports) error) error
}

// QueuedReports is one queued batch: its queue sequence (unique,
// increasing, the same on redelivery) and its reports in batch form.
type QueuedReports struct {
	Seq     uint64
	Reports []byte
}

// TelemetryAggregates stores each stream's committed aggregate under a
// version that must increase by commit (the aggregate document holds the
// queue sequences folded in); store.DB implements it.
type TelemetryAggregates interface {
	LoadTelemetryAggregate(ctx context.Context, stream string) (uint64, []byte, error)
	SaveTelemetryAggregate(ctx context.Context, stream string, seq uint64, doc []byte) error
}

func (t *telemetrySink) queued() bool { return t.cfg.Queue != nil && t.cfg.Aggregates != nil }

// enqueue publishes each stream's share of an accepted batch.
func (t *telemetrySink) enqueue(ctx context.Context, per map[*streamAgg][]byte) error {
	var id [16]byte
	rand.Read(id[:])
	for agg, reports := range per {
		// One key per request and stream: a retry of a failed publish
		// inside Publish is dropped as a duplicate by the queue.
		key := hex.EncodeToString(id[:]) + "/" + agg.schema.Name
		if err := t.cfg.Queue.Publish(ctx, agg.schema.Name, key, reports); err != nil {
			return fmt.Errorf("server: queue telemetry: %w", err)
		}
	}
	return nil
}

// queueState is a stream aggregate's queue bookkeeping: its commit
// version and the queue sequences folded in.
type queueState struct {
	version uint64
	ledger  messaging.Ledger
}

// aggDoc is a stream aggregate as committed.
type aggDoc struct {
	N      int              `json:"n"`
	Public map[string]int   `json:"public,omitempty"`
	Other  int              `json:"other,omitempty"`
	Sketch []byte           `json:"sketch,omitempty"`
	Folded messaging.Ledger `json:"folded"`
}

// snapshotLocked encodes the aggregate with the ledger it will have once
// committed; a.mu is held.
func (a *streamAgg) snapshotLocked(folded messaging.Ledger) ([]byte, error) {
	d := aggDoc{N: a.n, Public: a.public, Other: a.other, Folded: folded}
	if a.sketch != nil {
		b, err := a.sketch.MarshalBinary()
		if err != nil {
			return nil, err
		}
		d.Sketch = b
	}
	return json.Marshal(d)
}

// restoreLocked replaces the aggregate with a committed one (doc nil: the
// empty aggregate); a.mu is held. On error nothing changes.
func (a *streamAgg) restoreLocked(version uint64, doc []byte) error {
	var d aggDoc
	if doc != nil {
		if err := json.Unmarshal(doc, &d); err != nil {
			return fmt.Errorf("telemetry aggregate %s: %w", a.schema.Name, err)
		}
	}
	var sk *ldp.Sketch
	if a.sketch != nil {
		sk = ldp.NewSketch(a.schema.Params())
		if d.Sketch != nil {
			if err := sk.UnmarshalBinary(d.Sketch); err != nil {
				return fmt.Errorf("telemetry aggregate %s: %w", a.schema.Name, err)
			}
		}
		a.sketch = sk
	} else {
		if d.Public == nil {
			d.Public = map[string]int{}
		}
		a.public = d.Public
	}
	a.n, a.other = d.N, d.Other
	a.queue = queueState{version: version, ledger: d.Folded}
	return nil
}

// load replaces a's aggregate with the committed one.
func (t *telemetrySink) load(ctx context.Context, a *streamAgg) error {
	seq, doc, err := t.cfg.Aggregates.LoadTelemetryAggregate(ctx, a.schema.Name)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.restoreLocked(seq, doc)
}

// apply folds the batches not yet committed into a and commits the
// aggregate with their sequences, all under a.mu. If the commit fails,
// the aggregate goes back to the committed one, so the redelivered
// batches are not counted twice.
func (t *telemetrySink) apply(ctx context.Context, a *streamAgg, batch []QueuedReports) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	folded := a.queue.ledger.Clone()
	fresh := 0
	for _, q := range batch {
		if folded.Seen(q.Seq) {
			continue // committed before; redelivered after a crash
		}
		folded.Add(q.Seq)
		fresh++
		// The endpoint checked these reports; one that fails now (a
		// redeclared stream) is dropped, not retried forever.
		_ = telemetry.SplitBatch(q.Reports, t.cfg.MaxBatchReports, len(q.Reports), func(b []byte) error {
			rep, err := telemetry.ParseReport(b, telemetry.DefaultLimits)
			if err == nil && rep.Stream == a.schema.Name && a.schema.Check(&rep) == nil {
				a.addLocked(&rep, t.cfg.MaxPublicItems)
			}
			return nil
		})
	}
	if fresh == 0 {
		return nil
	}
	doc, err := a.snapshotLocked(folded)
	if err == nil {
		err = t.cfg.Aggregates.SaveTelemetryAggregate(ctx, a.schema.Name, a.queue.version+1, doc)
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		seq, doc, lerr := t.cfg.Aggregates.LoadTelemetryAggregate(rctx, a.schema.Name)
		if lerr == nil {
			lerr = a.restoreLocked(seq, doc)
		}
		if lerr != nil {
			// Keep counting from nothing rather than from a sum that
			// holds uncommitted reports.
			return errors.Join(err, lerr)
		}
		return err
	}
	a.queue = queueState{version: a.queue.version + 1, ledger: folded}
	return nil
}

func (t *telemetrySink) sortedStreams() []*streamAgg {
	out := make([]*streamAgg, 0, len(t.streams))
	for _, a := range t.streams {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *streamAgg) int { return strings.Compare(x.schema.Name, y.schema.Name) })
	return out
}

// DeclareTelemetry creates the queue of every declared stream, keeping
// raw reports at most the stream's retention, and loads the committed
// aggregates. Every replica calls it at start; it does nothing unless
// TelemetryConfig.Queue and Aggregates are set.
func (s *Server) DeclareTelemetry(ctx context.Context) error {
	t := s.telemetry
	if !t.queued() {
		return nil
	}
	for _, a := range t.sortedStreams() {
		if err := t.cfg.Queue.Declare(ctx, a.schema.Name, a.schema.Retention); err != nil {
			return err
		}
	}
	return s.ReloadTelemetry(ctx)
}

// ReloadTelemetry replaces every stream's aggregate with the committed
// one, so a replica that does not aggregate answers estimates the leader
// committed.
func (s *Server) ReloadTelemetry(ctx context.Context) error {
	t := s.telemetry
	if !t.queued() {
		return nil
	}
	for _, a := range t.sortedStreams() {
		if err := t.load(ctx, a); err != nil {
			return fmt.Errorf("server: reload telemetry: %w", err)
		}
	}
	return nil
}

// RunTelemetry consumes every stream's queue into its aggregate until ctx
// ends, committing each batch (with ctx: a fenced context makes a deposed
// leader's commits fail, and their batches go to the new leader). Exactly
// one replica should run it: the leader.
func (s *Server) RunTelemetry(ctx context.Context) error {
	t := s.telemetry
	if !t.queued() {
		return nil
	}
	if err := s.ReloadTelemetry(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(t.streams))
	for i, a := range t.sortedStreams() {
		wg.Go(func() {
			err := t.cfg.Queue.Consume(ctx, a.schema.Name, func(ctx context.Context, b []QueuedReports) error {
				return t.apply(ctx, a, b)
			})
			if ctx.Err() == nil {
				errs[i] = fmt.Errorf("server: telemetry stream %s: %w", a.schema.Name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}
