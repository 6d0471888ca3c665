package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/server"
)

// healthStore is what the health gates read training histograms from and
// the controller keeps rollouts in; store.DB implements it.
type healthStore interface {
	rolloutStore
	health.VersionGetter
	ledgerDocs
}

// newHealthGates builds the rollout controller of `sextant serve` with its
// gates fed by device health: the check-ins' health reports are aggregated
// in memory (delivery/health) and released to the gates, and as rollout
// drift to the admin API, through central DP with the declared streams'
// budgets (device/health.Schemas), the ε spent per day kept in
// DATA/health-ledger.json so a restart does not reset it, and shared with
// the other replicas through the store (sharedLedger) so a failover does
// not either. The totals
// themselves live in the leader's memory only, fed by the reports' stream
// (newHealthQueue): every replica publishes the reports it receives, and
// the leader rebuilds the totals from the stream when it takes over.
// A drift alarm (PSI past 0.2) is logged as a warning.
func newHealthGates(ctx context.Context, data string, db healthStore, log *slog.Logger) (*rollout.Controller, *health.Aggregator, *sharedLedger, error) {
	ledger, err := telemetry.OpenLedger(filepath.Join(data, "health-ledger.json"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	agg, err := health.New(health.Config{Ledger: ledger, Clock: clock.Real, Training: health.TrainingFromRegistry(db),
		OnDriftAlarm: func(id string, r *health.DriftReport) {
			for _, f := range r.Features {
				if f.Current.Alarm || f.Candidate.Alarm {
					log.Warn("rollout input drift", "rollout", id, "feature", f.Feature,
						"psi_current", f.Current.PSI, "psi_candidate", f.Candidate.PSI, "threshold", r.Threshold)
				}
			}
		}})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	ctl, err := newGatedController(ctx, db, agg)
	if err != nil {
		return nil, nil, nil, err
	}
	agg.Bind(ctl)
	return ctl, agg, &sharedLedger{ledger: ledger, docs: db}, nil
}

// healthLedgerKey is where the health budgets' ledger lives among the
// store's versioned, fenced documents (the telemetry aggregates' table; no
// telemetry stream name holds a "/").
const healthLedgerKey = "health-ledger/epsilon"

// sharedLedger keeps the ε the health releases spend where every replica
// reads it, so a leader that takes over does not spend a day's budget
// again: on taking the lead a replica merges the stored ledger into its
// own (the larger spend of each stream and day), and while it leads every
// charge is written through to the store, fenced by the lease, before the
// release it pays for is produced.
type sharedLedger struct {
	ledger *telemetry.Ledger
	docs   ledgerDocs

	mu      sync.Mutex
	version uint64 // the stored document's version this replica last wrote or read
}

// ledgerDocs is the store's versioned, fenced document table.
type ledgerDocs interface {
	LoadTelemetryAggregate(ctx context.Context, key string) (uint64, []byte, error)
	SaveTelemetryAggregate(ctx context.Context, key string, version uint64, doc []byte) error
}

// lead merges the stored ledger and mirrors later charges to the store
// under ctx (which carries the leader's fence) until follow is called.
func (s *sharedLedger) lead(ctx context.Context) error {
	version, doc, err := s.docs.LoadTelemetryAggregate(ctx, healthLedgerKey)
	if err != nil {
		return fmt.Errorf("serve: health ledger: %w", err)
	}
	if doc != nil {
		if err := s.ledger.Merge(doc); err != nil {
			return fmt.Errorf("serve: health ledger: %w", err)
		}
	}
	s.mu.Lock()
	s.version = version
	s.mu.Unlock()
	s.ledger.SetMirror(func(doc []byte) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		// A conflict means another replica wrote since this one took the
		// lead (it was deposed, or two leaders raced): the charge fails, so
		// no release is produced, and the next lead merges again.
		if err := s.docs.SaveTelemetryAggregate(ctx, healthLedgerKey, s.version+1, doc); err != nil {
			return err
		}
		s.version++
		return nil
	})
	return nil
}

// follow stops mirroring (this replica no longer leads and releases
// nothing).
func (s *sharedLedger) follow() { s.ledger.SetMirror(nil) }

// newHealthQueue routes the check-ins' health reports through JetStream
// (server.HealthQueue): this replica publishes the reports it receives,
// and while it leads it folds every replica's into agg.
func newHealthQueue(ctx context.Context, bus *messaging.Bus, agg *health.Aggregator, log *slog.Logger) (*server.HealthQueue, error) {
	q := server.NewHealthQueue(bus, agg, nil, log)
	if err := q.Declare(ctx); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return q, nil
}

// leaderDrift answers rollout drift from the aggregate on the leader
// only: a follower's aggregate is not fed (and a release there would
// spend its own privacy budget), so it reports drift as not measured.
type leaderDrift struct {
	agg     *health.Aggregator
	leading *atomic.Bool
}

func (l leaderDrift) Drift(ctx context.Context, id string) (*health.DriftReport, error) {
	if !l.leading.Load() {
		return nil, nil
	}
	return l.agg.Drift(ctx, id)
}
