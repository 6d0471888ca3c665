package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
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
}

// newHealthGates builds the rollout controller of `sextant serve` with its
// gates fed by device health: the check-ins' health reports are aggregated
// in memory (delivery/health) and released to the gates, and as rollout
// drift to the admin API, through central DP with the declared streams'
// budgets (device/health.Schemas), the ε spent per day kept in
// DATA/health-ledger.json so a restart does not reset it. The totals
// themselves live in the leader's memory only, fed by the reports' stream
// (newHealthQueue): every replica publishes the reports it receives, and
// the leader rebuilds the totals from the stream when it takes over.
// A drift alarm (PSI past 0.2) is logged as a warning.
func newHealthGates(ctx context.Context, data string, db healthStore, log *slog.Logger) (*rollout.Controller, *health.Aggregator, error) {
	ledger, err := telemetry.OpenLedger(filepath.Join(data, "health-ledger.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %w", err)
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
		return nil, nil, fmt.Errorf("serve: %w", err)
	}
	ctl, err := newGatedController(ctx, db, agg)
	if err != nil {
		return nil, nil, err
	}
	agg.Bind(ctl)
	return ctl, agg, nil
}

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
