package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/privacy/telemetry"
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
// themselves live in this process only: after a restart the gates wait
// for fresh check-ins, and with several replicas each aggregates the
// check-ins it serves (the leader's gates see its own share).
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
