package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// HealthSink takes the health reports devices send with their check-ins;
// *delivery/health.Aggregator implements it. device is the check-in's
// device id (the privacy unit; the report carries no identifier).
type HealthSink interface {
	Ingest(ctx context.Context, device string, rep *dhealth.Report) error
}

// DriftSource says how a rollout's inputs drift from the candidate's
// training distribution; *delivery/health.Aggregator implements it. A nil
// report means drift is not measured.
type DriftSource interface {
	Drift(ctx context.Context, rolloutID string) (*health.DriftReport, error)
}

// RolloutStatus is GET /v1/admin/rollouts/{id}: the controller's status
// and, when the server measures it, the rollout's input drift.
type RolloutStatus struct {
	rollout.Status
	Drift *health.DriftReport `json:"drift,omitempty"`
}

// ingestHealth hands a check-in's health report to the sink. A report the
// sink refuses is dropped with a warning: telemetry never stands between a
// device and its updates.
func (s *Server) ingestHealth(ctx context.Context, device string, rep *dhealth.Report) {
	if rep.Empty() || s.cfg.Health == nil {
		return
	}
	if err := s.cfg.Health.Ingest(ctx, device, rep); err != nil {
		level := "dropped a health report"
		if !errors.Is(err, dhealth.ErrInvalid) {
			level = "health sink failed"
		}
		s.log.WarnContext(ctx, level, "err", err)
	}
}

// drift returns rollout id's drift, or nil when it is not measured or
// cannot be computed now (logged; the status is shown regardless).
func (s *Server) drift(ctx context.Context, id string) *health.DriftReport {
	if s.cfg.Drift == nil {
		return nil
	}
	d, err := s.cfg.Drift.Drift(ctx, id)
	if err != nil {
		s.log.WarnContext(ctx, "rollout drift", "rollout", id, "err", err)
		return nil
	}
	return d
}

// RolloutStatus returns one rollout's status, history and input drift.
func (c *Client) RolloutStatus(ctx context.Context, id string) (RolloutStatus, error) {
	var out RolloutStatus
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/rollouts/"+url.PathEscape(id), nil, &out)
	return out, err
}

// HealthStream names the JetStream log that carries health reports from
// the replicas that receive check-ins to the leader's aggregate.
const HealthStream = "health-reports"

// HealthFeed is what the leader folds queued health reports into;
// *delivery/health.Aggregator implements it. at is when the receiving
// replica's report reached the stream.
type HealthFeed interface {
	IngestAt(ctx context.Context, device string, rep *dhealth.Report, at time.Time) error
}

// HealthQueue routes the check-ins' health reports through JetStream, so
// every replica's reports reach one aggregate: as the HealthSink of each
// replica it publishes a checked report (with a fresh idempotency key, so
// a retried publish is stored once) and returns once the stream holds it,
// before the check-in is answered; on the leader, Run folds the stream
// into the HealthFeed.
//
// The stream is a log (messaging.Stream.Log) kept for the health
// streams' retention (device/health.Retention), not a work queue: the
// aggregate is per-device totals held only in memory (delivery/health),
// so it cannot be committed anywhere, and a replica that becomes leader
// rebuilds it by replaying the log from its start. Nothing a device was
// answered for is lost when any replica dies. Each message is folded in
// at most once per process: the stream sequences folded in are kept with
// the feed (a messaging.Ledger), so a Run that failed mid-batch, or a
// replica that leads again after a spell as follower, resumes without
// counting a report twice. The log holds each report with its device id
// for the retention the in-memory totals have anyway; replay time on a
// takeover grows with the log (bounded by that retention).
type HealthQueue struct {
	bus  *messaging.Bus
	feed HealthFeed
	reg  *telemetry.Registry
	log  *slog.Logger

	run    sync.Mutex // one Run at a time
	mu     sync.Mutex
	folded messaging.Ledger
	next   uint64 // the sequence Run resumes from
	seen   chan struct{}
}

// queuedHealth is one report as the stream carries it.
type queuedHealth struct {
	Device string          `json:"device"`
	Report *dhealth.Report `json:"report"`
}

// NewHealthQueue returns the queue over bus feeding feed (nil on a
// replica that never leads). reg checks reports before they are
// published (nil: device/health.Registry()).
func NewHealthQueue(bus *messaging.Bus, feed HealthFeed, reg *telemetry.Registry, log *slog.Logger) *HealthQueue {
	if reg == nil {
		reg = dhealth.Registry()
	}
	if log == nil {
		log = slog.Default()
	}
	return &HealthQueue{bus: bus, feed: feed, reg: reg, log: log, next: 1, seen: make(chan struct{})}
}

// Declare creates the stream (every replica, at start).
func (q *HealthQueue) Declare(ctx context.Context) error {
	return q.bus.Declare(ctx, messaging.Stream{Name: HealthStream, MaxAge: dhealth.Retention, Log: true})
}

// Ingest implements HealthSink: it checks the report and publishes it.
// An invalid report is refused with an error wrapping
// device/health.ErrInvalid and not published.
func (q *HealthQueue) Ingest(ctx context.Context, device string, rep *dhealth.Report) error {
	if rep.Empty() {
		return nil
	}
	if err := rep.Validate(q.reg); err != nil {
		return err
	}
	b, err := json.Marshal(queuedHealth{Device: device, Report: rep})
	if err != nil {
		return fmt.Errorf("server: queue health report: %w", err)
	}
	var id [16]byte
	rand.Read(id[:])
	if err := q.bus.Publish(ctx, HealthStream, "health/"+hex.EncodeToString(id[:]), b); err != nil {
		return fmt.Errorf("server: queue health report: %w", err)
	}
	return nil
}

// Run folds the stream into the feed until ctx ends or the feed fails,
// from where the last Run stopped. Exactly one replica should run it, the
// leader; it returns the feed's error or ctx's.
func (q *HealthQueue) Run(ctx context.Context) error {
	if q.feed == nil {
		return errors.New("server: health queue: no feed")
	}
	q.run.Lock()
	defer q.run.Unlock()
	q.mu.Lock()
	from := q.next
	q.mu.Unlock()
	return q.bus.Replay(ctx, HealthStream, from, 0, q.apply)
}

// apply folds one batch in, skipping what was folded before.
func (q *HealthQueue) apply(ctx context.Context, batch []messaging.Msg) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range batch {
		if !q.folded.Seen(m.Seq) {
			var qh queuedHealth
			if err := json.Unmarshal(m.Data, &qh); err != nil || qh.Report == nil {
				q.log.WarnContext(ctx, "health queue: dropped an unreadable message", "seq", m.Seq, "err", err)
			} else if err := q.feed.IngestAt(ctx, qh.Device, qh.Report, m.Time); err != nil {
				if !errors.Is(err, dhealth.ErrInvalid) {
					return fmt.Errorf("server: health queue: fold %d: %w", m.Seq, err)
				}
				q.log.WarnContext(ctx, "health queue: dropped a health report", "seq", m.Seq, "err", err)
			}
			q.folded.Add(m.Seq)
		}
		q.next = max(q.next, m.Seq+1)
	}
	close(q.seen)
	q.seen = make(chan struct{})
	return nil
}

// Folded returns the last stream sequence Run has folded in (0: none).
func (q *HealthQueue) Folded() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.next - 1
}

// CatchUp waits until Run has folded in every report the stream held
// when it was called (a new leader's gates wait for it, so they do not
// judge a rollout on part of its reports). Reports that expired meanwhile
// are not waited for.
func (q *HealthQueue) CatchUp(ctx context.Context) error {
	_, last, err := q.bus.Bounds(ctx, HealthStream)
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		q.mu.Lock()
		done, ch := q.next > last, q.seen
		q.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
			first, _, err := q.bus.Bounds(ctx, HealthStream)
			if err != nil {
				return err
			}
			if first > last {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
