package rollout

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// Source supplies a rollout's metric arms: the current version's devices
// and the candidate's, cumulative since the rollout started. An error
// means the telemetry is unavailable; the gate is then inconclusive.
type Source interface {
	Arms(ctx context.Context, rolloutID, metric string) (Arms, error)
}

// Pointer moves a model's current-version pointer; store.DB implements it.
type Pointer interface {
	SetCurrent(ctx context.Context, model, version string) error
}

// Assigner is what the director consults: the version a device should
// run. It returns "" for a model without a rollout (serve the registry's
// current version).
type Assigner interface {
	Version(model string, device targeting.Attributes, unit string) string
}

// Options configure a Controller.
type Options struct {
	// Interval is how often Run evaluates; zero means 10 s.
	Interval time.Duration
	// PauseAfter pauses a baking rollout whose telemetry has been
	// unavailable this long; zero means 1 min.
	PauseAfter time.Duration
	// Pointer, when set, is moved to the candidate when a rollout whose
	// rule admits every device completes.
	Pointer Pointer
	// Persister, when set, is written on Create and on every transition
	// (see Restore). A failed write is returned to the caller; the
	// transition has then happened in memory but is not durable.
	Persister Persister
	// OnStart, when set, is called (without the controller's lock) with
	// a rollout's status once Start has begun its first stage: the end
	// of its pre-period, when a source that compares each device with its
	// own history (delivery/health's per-device gate metrics) takes its
	// baseline.
	OnStart func(Status)
}

// Controller drives rollouts. It is safe for concurrent use; the director
// may call Version from many goroutines while Run evaluates.
type Controller struct {
	clock  clock.Clock
	source Source
	opts   Options

	mu       sync.RWMutex
	rollouts map[string]*rollout
	byModel  map[string]*rollout // the latest rollout of each model
}

// Actor is the actor of automatic transitions.
const Actor = "controller"

// New returns a controller reading metrics from src on clock c.
func New(c clock.Clock, src Source, o Options) *Controller {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.PauseAfter <= 0 {
		o.PauseAfter = time.Minute
	}
	return &Controller{clock: c, source: src, opts: o,
		rollouts: map[string]*rollout{}, byModel: map[string]*rollout{}}
}

// Create registers a pending rollout. It fails with delivery.ErrConflict
// when the id exists or the model already has an active rollout.
func (c *Controller) Create(s Spec) (Status, error) {
	if err := s.Validate(); err != nil {
		return Status{}, err
	}
	s.Stages = slices.Clone(s.Stages)
	s.Gates = slices.Clone(s.Gates)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rollouts[s.ID]; ok {
		return Status{}, delivery.Errorf(delivery.ErrConflict, "rollout %s exists", s.ID)
	}
	if prev, ok := c.byModel[s.Model]; ok && prev.State.Active() {
		return Status{}, delivery.Errorf(delivery.ErrConflict, "model %s already has active rollout %s", s.Model, prev.Spec.ID)
	}
	r := &rollout{Status: Status{Spec: s, State: Pending}, bucketer: targeting.NewSaltedBucketer(s.salt())}
	r.History = append(r.History, Record{At: c.clock.Now(), From: Pending, To: Pending, Actor: Actor, Reason: "created"})
	if err := c.saveDetached(r); err != nil {
		return Status{}, err
	}
	c.rollouts[s.ID] = r
	c.byModel[s.Model] = r
	return r.snapshot(), nil
}

// Version implements Assigner.
func (c *Controller) Version(model string, device targeting.Attributes, unit string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.byModel[model]
	if !ok {
		return ""
	}
	return r.version(&device, unit)
}

// Status returns a snapshot of rollout id.
func (c *Controller) Status(id string) (Status, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.rollouts[id]
	if !ok {
		return Status{}, delivery.Errorf(delivery.ErrNotFound, "rollout %s not found", id)
	}
	return r.snapshot(), nil
}

// List returns snapshots of every rollout, ordered by id.
func (c *Controller) List() []Status {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Status, 0, len(c.rollouts))
	for _, r := range c.rollouts {
		out = append(out, r.snapshot())
	}
	slices.SortFunc(out, func(a, b Status) int {
		switch {
		case a.Spec.ID < b.Spec.ID:
			return -1
		case a.Spec.ID > b.Spec.ID:
			return 1
		}
		return 0
	})
	return out
}

// Run evaluates every rollout each Interval until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	for {
		if err := c.clock.Sleep(ctx, c.opts.Interval); err != nil {
			return err
		}
		c.EvaluateAll(ctx)
	}
}

// EvaluateAll evaluates every baking or paused rollout once.
func (c *Controller) EvaluateAll(ctx context.Context) {
	c.mu.RLock()
	ids := make([]string, 0, len(c.rollouts))
	for id, r := range c.rollouts {
		if r.State == Baking || r.State == Paused {
			ids = append(ids, id)
		}
	}
	c.mu.RUnlock()
	slices.Sort(ids)
	for _, id := range ids {
		// A rollout that changed state meanwhile is skipped inside.
		_, _ = c.Evaluate(ctx, id)
	}
}

// transition moves r to state to, recording the evidence. c.mu is held.
func (c *Controller) transition(r *rollout, to State, stage int, actor, reason string, gates []GateResult) {
	from := r.State
	now := c.clock.Now()
	if to == Baking {
		// Starting, advancing and resuming (re)start the bake clock.
		r.StageStarted = now
	}
	r.State, r.Stage = to, stage
	r.History = append(r.History, Record{At: now, From: from, To: to, Stage: stage, Share: r.share(),
		Actor: actor, Reason: reason, Gates: slices.Clone(gates)})
}

func (c *Controller) get(id string) (*rollout, error) {
	r, ok := c.rollouts[id]
	if !ok {
		return nil, delivery.Errorf(delivery.ErrNotFound, "rollout %s not found", id)
	}
	return r, nil
}

func conflict(r *rollout, op string) error {
	return delivery.Errorf(delivery.ErrConflict, "rollout %s is %s; cannot %s", r.Spec.ID, r.State, op)
}

// Start begins stage 0.
func (c *Controller) Start(id, actor string) error {
	c.mu.Lock()
	r, err := c.get(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if r.State != Pending {
		c.mu.Unlock()
		return conflict(r, "start")
	}
	c.transition(r, Baking, 0, actor, "started", nil)
	r.lastData = c.clock.Now()
	err = c.saveDetached(r)
	st := r.snapshot()
	c.mu.Unlock()
	if c.opts.OnStart != nil {
		c.opts.OnStart(st)
	}
	return err
}

// Advance moves to the next stage (or completes) regardless of the gates:
// the manual override. The latest gate results are recorded with it.
func (c *Controller) Advance(ctx context.Context, id, actor, reason string) error {
	c.mu.Lock()
	r, err := c.get(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if r.State != Baking && r.State != Paused {
		c.mu.Unlock()
		return conflict(r, "advance")
	}
	complete := c.advance(r, actor, "manual advance: "+reason, r.LastGates)
	err = c.save(ctx, r)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if complete {
		return c.movePointer(ctx, r)
	}
	return nil
}

// advance moves r one stage on and reports whether it completed. c.mu is
// held.
func (c *Controller) advance(r *rollout, actor, reason string, gates []GateResult) bool {
	if r.Stage+1 < len(r.Spec.Stages) {
		c.transition(r, Baking, r.Stage+1, actor, reason, gates)
		return false
	}
	c.transition(r, Completed, r.Stage, actor, reason, gates)
	return true
}

// movePointer sets the model's current version to the completed
// candidate when the rule admits every device and a Pointer is set.
func (c *Controller) movePointer(ctx context.Context, r *rollout) error {
	if c.opts.Pointer == nil || !isZeroRule(&r.Spec.Rule) {
		return nil
	}
	if err := c.opts.Pointer.SetCurrent(ctx, r.Spec.Model, r.Spec.Version); err != nil {
		return fmt.Errorf("rollout %s: set current version: %w", r.Spec.ID, err)
	}
	return nil
}

func isZeroRule(r *targeting.Rule) bool {
	return len(r.All) == 0 && len(r.Any) == 0 && r.Not == nil && len(r.Class) == 0 && r.OS == nil &&
		r.AppVersion == nil && len(r.Region) == 0 && len(r.Locale) == 0 && r.Custom == nil
}

// Pause holds a baking rollout at its stage.
func (c *Controller) Pause(id, actor, reason string) error {
	return c.manual(id, "pause", func(r *rollout) bool { return r.State == Baking }, Paused, actor, "paused: "+reason)
}

// Resume lets a paused rollout advance again; its bake clock restarts.
func (c *Controller) Resume(id, actor, reason string) error {
	return c.manual(id, "resume", func(r *rollout) bool { return r.State == Paused }, Baking, actor, "resumed: "+reason)
}

// Rollback sends everyone back to the current version.
func (c *Controller) Rollback(id, actor, reason string) error {
	return c.manual(id, "roll back", func(r *rollout) bool { return r.State.Active() }, RolledBack, actor, "manual rollback: "+reason)
}

// Kill is the kill switch: the rollout stops for good and everyone runs
// the current version at their next check-in. It works in any state but
// a finished one.
func (c *Controller) Kill(id, actor, reason string) error {
	return c.manual(id, "kill", func(r *rollout) bool { return r.State.Active() }, Killed, actor, "killed: "+reason)
}

func (c *Controller) manual(id, op string, ok func(*rollout) bool, to State, actor, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.get(id)
	if err != nil {
		return err
	}
	if !ok(r) {
		return conflict(r, op)
	}
	c.transition(r, to, r.Stage, actor, reason, r.LastGates)
	return c.saveDetached(r)
}
