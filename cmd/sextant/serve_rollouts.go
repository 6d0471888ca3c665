package main

import (
	"context"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/rollout"
)

// noHealthData is the rollout gate Source of `sextant serve` until device
// health reports reach the server: every metric has no units yet, so every
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
	return rollout.Restore(ctx, clock.Real, noHealthData{}, rollout.Options{Pointer: db, Persister: db})
}
