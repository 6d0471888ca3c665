package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/lease"
)

// noHealthData is a rollout gate Source with no data (newRolloutController's,
// for tests of persistence and leadership; `sextant serve` reads device
// health, see serve_health.go): every metric has no units yet, so every
// gate is inconclusive and a gated stage holds until an operator advances
// it (`sextant rollout advance`). It answers without an error on purpose:
// an error would mean "telemetry broken" and auto-pause every rollout after
// a minute. A stage without gates still advances after its bake time.
type noHealthData struct{}

func (noHealthData) Arms(context.Context, string, string) (rollout.Arms, error) {
	return rollout.Arms{}, nil
}

// rolloutStore is what `sextant serve` keeps rollouts in and moves current
// versions through; store.DB implements it.
type rolloutStore interface {
	rollout.Pointer
	rollout.Persister
}

// newRolloutController is the controller `sextant serve` runs, restored
// from db: rollouts survive a restart and resume where they were (a
// baking stage keeps its recorded start, so its bake time is not reset),
// every transition is saved to db, and a completed rollout whose rule
// admits every device moves the model's current version through db.
func newRolloutController(ctx context.Context, db rolloutStore) (*rollout.Controller, error) {
	return newGatedController(ctx, db, noHealthData{})
}

// newGatedController is newRolloutController with gates read from src.
// A source that keeps pre-rollout baselines (health.Aggregator: each
// phone's rates before the rollout, the per-device gates' covariate)
// takes one when a rollout starts. A rollout restored after a restart or
// a failover has none on the new process; its per-device gates then go
// without the covariate (wider, still valid).
func newGatedController(ctx context.Context, db rolloutStore, src rollout.Source) (*rollout.Controller, error) {
	opts := rollout.Options{Pointer: db, Persister: db}
	if b, ok := src.(interface{ StartRollout(rollout.Status) }); ok {
		opts.OnStart = b.StartRollout
	}
	return rollout.Restore(ctx, clock.Real, src, opts)
}

// rolloutLease names the lease whose holder drives rollouts and
// aggregates telemetry.
const rolloutLease = "leader"

// rolloutDriver runs the rollout controller's evaluation loop on exactly
// one replica. On SQLite (one process owns the database) that replica is
// this one, always. On PostgreSQL the replicas campaign for a lease
// (package lease): the leader reloads the rollouts from the database and
// evaluates them every interval, its writes fenced by its epoch, so a
// deposed leader's late transition is refused; followers only reload, so
// the versions they assign follow the leader's transitions and operators'
// actions taken through any replica.
type rolloutDriver struct {
	ctl      *rollout.Controller
	interval time.Duration
	log      *slog.Logger
	// srv, when set, has its telemetry aggregated by the leader and
	// reloaded by followers.
	srv telemetryRunner
	// health, when set, is the queue of the check-ins' health reports the
	// leader folds into the gates' aggregate (serve_health.go); its gates
	// wait for it to catch up before the first evaluation.
	health healthRunner
	// ledger, when set, is the health budgets' ledger, shared through the
	// store while this replica leads (serve_health.go).
	ledger *sharedLedger
	// fl, when set, runs the federated tasks while this replica leads
	// (serve_fl.go).
	fl      func(ctx context.Context)
	leading atomic.Bool
}

// healthRunner is the part of *server.HealthQueue the leader runs.
type healthRunner interface {
	Run(ctx context.Context) error
	CatchUp(ctx context.Context) error
}

// telemetryRunner is the part of *server.Server the driver runs.
type telemetryRunner interface {
	RunTelemetry(ctx context.Context) error
	ReloadTelemetry(ctx context.Context) error
}

// run drives rollouts until ctx ends. dsn is the database `serve` opened
// and dialect its Dialect(); holder names this replica in the lease table.
func (d *rolloutDriver) run(ctx context.Context, dsn, dialect, holder string) error {
	if dialect != "postgres" {
		d.leading.Store(true)
		d.lead(ctx)
		return ctx.Err()
	}
	go d.follow(ctx)
	return lease.Campaign(ctx, lease.Config{DSN: dsn, Name: rolloutLease, Holder: holder, Logger: d.log},
		func(ctx context.Context, f lease.Fence) {
			d.leading.Store(true)
			defer d.leading.Store(false)
			d.lead(ctx)
		})
}

// lead evaluates every interval, aggregates telemetry and health reports
// and runs the federated tasks, until ctx ends; ctx carries the fence.
func (d *rolloutDriver) lead(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if d.srv != nil {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := d.srv.RunTelemetry(ctx); err != nil && ctx.Err() == nil {
					d.log.Error("telemetry: aggregator stopped; restarting", "err", err)
				}
				sleepCtx(ctx, d.interval)
			}
		})
	}
	if d.fl != nil {
		wg.Go(func() { d.fl(ctx) })
	}
	if d.ledger != nil {
		// Before anything is released: what earlier leaders spent counts.
		for ctx.Err() == nil {
			err := d.ledger.lead(ctx)
			if err == nil {
				break
			}
			d.log.Warn("health: loading the shared privacy ledger", "err", err)
			sleepCtx(ctx, d.interval)
		}
		defer d.ledger.follow()
	}
	if d.health != nil {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := d.health.Run(ctx); err != nil && ctx.Err() == nil {
					d.log.Error("health: aggregator stopped; restarting", "err", err)
				}
				sleepCtx(ctx, d.interval)
			}
		})
		// The gates judge a rollout on all its reports, not on the part
		// replayed so far.
		if err := d.health.CatchUp(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("health: catching up with the reports' stream", "err", err)
		}
	}
	for {
		if err := d.ctl.Reload(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("rollouts: reload", "err", err)
		}
		d.ctl.EvaluateAll(ctx)
		if !sleepCtx(ctx, d.interval) {
			return
		}
	}
}

// follow reloads every interval while this replica is not the leader.
func (d *rolloutDriver) follow(ctx context.Context) {
	for sleepCtx(ctx, d.interval) {
		if d.leading.Load() {
			continue
		}
		if err := d.ctl.Reload(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("rollouts: reload", "err", err)
		}
		if d.srv != nil {
			if err := d.srv.ReloadTelemetry(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("telemetry: reload", "err", err)
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// replicaName identifies this process in the lease table.
func replicaName() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}
