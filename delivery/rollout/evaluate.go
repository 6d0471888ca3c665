package rollout

import (
	"context"
	"fmt"
	"strings"
)

// Evaluate reads the gates' arms for rollout id and acts on them:
//
//   - any gate failing rolls the rollout back (baking or paused);
//   - all gates passing, with the stage's bake time over, advances a
//     baking rollout (or completes it after its last stage);
//   - otherwise the stage holds; a baking rollout whose telemetry has been
//     unavailable for PauseAfter is paused.
//
// It returns the state after the evaluation. A rollout that is not baking
// or paused is left alone.
func (c *Controller) Evaluate(ctx context.Context, id string) (State, error) {
	c.mu.RLock()
	r, err := c.get(id)
	if err != nil {
		c.mu.RUnlock()
		return 0, err
	}
	state, spec := r.State, r.Spec
	c.mu.RUnlock()
	if state != Baking && state != Paused {
		return state, nil
	}

	// Read the telemetry without the lock: the source may be slow.
	results := make([]GateResult, len(spec.Gates))
	var failed []string
	allPass, dataOK := true, true
	var evalErr error
	for i := range spec.Gates {
		g := &spec.Gates[i]
		arms, err := c.source.Arms(ctx, id, g.Metric)
		if err != nil {
			dataOK = false
			allPass = false
			results[i] = GateResult{Metric: g.Metric, MaxRegression: g.MaxRegression, Reason: "telemetry unavailable: " + err.Error()}
			continue
		}
		res, err := Evaluate(g, arms)
		if err != nil {
			allPass = false
			evalErr = fmt.Errorf("rollout %s: gate %s: %w", id, g.Metric, err)
			res.Reason = err.Error()
		}
		results[i] = res
		switch res.Verdict {
		case Fail:
			failed = append(failed, g.Metric)
			allPass = false
		case Inconclusive:
			allPass = false
		}
	}

	c.mu.Lock()
	now := c.clock.Now()
	if r.State != state {
		// An operator acted meanwhile; their decision stands.
		s := r.State
		c.mu.Unlock()
		return s, evalErr
	}
	r.LastEvaluated, r.LastGates = now, results
	transitions := len(r.History)
	if dataOK {
		r.lastData = now
	}
	complete := false
	switch {
	case len(failed) > 0:
		c.transition(r, RolledBack, r.Stage, Actor, "gate failed: "+strings.Join(failed, ", "), results)
	case r.State == Baking && allPass && now.Sub(r.StageStarted) >= spec.Stages[r.Stage].Bake:
		complete = c.advance(r, Actor, "gates passed after bake", results)
	case r.State == Baking && now.Sub(r.lastData) >= c.opts.PauseAfter:
		c.transition(r, Paused, r.Stage, Actor, "telemetry unavailable", results)
	}
	s := r.State
	if len(r.History) != transitions {
		if err := c.save(ctx, r); err != nil {
			c.mu.Unlock()
			return s, err
		}
	}
	c.mu.Unlock()
	if complete {
		if err := c.movePointer(ctx, r); err != nil {
			return s, err
		}
	}
	return s, evalErr
}
