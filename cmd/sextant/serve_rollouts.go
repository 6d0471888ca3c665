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

// newRolloutController is the controller `sextant serve` runs: rollouts
// live in memory (a restart forgets them and devices fall back to each
// model's current version), and a completed rollout whose rule admits
// every device moves the model's current version through p.
func newRolloutController(p rollout.Pointer) *rollout.Controller {
	return rollout.New(clock.Real, noHealthData{}, rollout.Options{Pointer: p})
}
