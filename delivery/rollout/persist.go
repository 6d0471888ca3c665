package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// Saved is one rollout as a Persister stores it: the indexable columns
// and the full state as a JSON document (a Status plus the controller's
// private bookkeeping).
type Saved struct {
	ID    string
	Model string
	State State
	// Document is the rollout's full state as JSON; only this package
	// reads it.
	Document json.RawMessage
	// Updated is when the controller saved it (its clock).
	Updated time.Time
}

// Persister stores rollouts so a restarted controller resumes them;
// store.DB implements it. SaveRollout inserts or replaces the rollout
// with Saved.ID; LoadRollouts returns every stored rollout.
type Persister interface {
	SaveRollout(ctx context.Context, s Saved) error
	LoadRollouts(ctx context.Context) ([]Saved, error)
}

// document is the JSON form of a rollout's full state.
type document struct {
	Status
	// LastData is when the source last answered for the rollout.
	LastData time.Time `json:"last_data"`
}

// persistTimeout bounds a save made by a method that has no context.
const persistTimeout = 30 * time.Second

// saveDetached is save for the methods that take no context.
func (c *Controller) saveDetached(r *rollout) error {
	if c.opts.Persister == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), persistTimeout)
	defer cancel()
	return c.save(ctx, r)
}

// save writes r through the Persister, if any. c.mu is held, so saves of
// one rollout reach the Persister in transition order.
func (c *Controller) save(ctx context.Context, r *rollout) error {
	if c.opts.Persister == nil {
		return nil
	}
	doc, err := json.Marshal(document{Status: r.snapshot(), LastData: r.lastData})
	if err != nil {
		return fmt.Errorf("rollout %s: encode: %w", r.Spec.ID, err)
	}
	s := Saved{ID: r.Spec.ID, Model: r.Spec.Model, State: r.State, Document: doc, Updated: c.clock.Now()}
	if err := c.opts.Persister.SaveRollout(ctx, s); err != nil {
		return fmt.Errorf("rollout %s: save: %w", r.Spec.ID, err)
	}
	return nil
}

// Restore returns a controller like New whose rollouts are those
// o.Persister holds (none when it is nil), each resuming where it was: in
// its state and stage, its bake time counted from the recorded stage
// start on clock c, with its history. An evaluation that changed nothing
// is not saved, so LastEvaluated and LastGates are those of the last
// transition until the restored controller evaluates again. The
// telemetry-gap timer (Options.PauseAfter) restarts at the restore, since
// the source has not been asked since.
func Restore(ctx context.Context, c clock.Clock, src Source, o Options) (*Controller, error) {
	ctl := New(c, src, o)
	if o.Persister == nil {
		return ctl, nil
	}
	saved, err := o.Persister.LoadRollouts(ctx)
	if err != nil {
		return nil, fmt.Errorf("rollout: restore: %w", err)
	}
	now := c.Now()
	for _, s := range saved {
		r, err := decode(s)
		if err != nil {
			return nil, fmt.Errorf("rollout: restore: %w", err)
		}
		r.lastData = now
		ctl.rollouts[r.Spec.ID] = r
		if prev, ok := ctl.byModel[r.Spec.Model]; !ok || supersedes(r, prev) {
			ctl.byModel[r.Spec.Model] = r
		}
	}
	return ctl, nil
}

// decode rebuilds a rollout from its saved form, checking that the
// document is one a controller could have written.
func decode(s Saved) (*rollout, error) {
	var d document
	if err := json.Unmarshal(s.Document, &d); err != nil {
		return nil, fmt.Errorf("rollout %s: decode: %w", s.ID, err)
	}
	if err := d.Spec.Validate(); err != nil {
		return nil, err
	}
	switch {
	case d.Spec.ID != s.ID || d.Spec.Model != s.Model || d.State != s.State:
		return nil, delivery.Errorf(delivery.ErrInvalid, "rollout %s: document (%s, %s, %s) disagrees with its row (%s, %s, %s)",
			s.ID, d.Spec.ID, d.Spec.Model, d.State, s.ID, s.Model, s.State)
	case d.State.String() == "unknown":
		return nil, delivery.Errorf(delivery.ErrInvalid, "rollout %s: unknown state %d", s.ID, d.State)
	case d.Stage < 0 || d.Stage >= len(d.Spec.Stages):
		return nil, delivery.Errorf(delivery.ErrInvalid, "rollout %s: stage %d of %d", s.ID, d.Stage, len(d.Spec.Stages))
	case len(d.History) == 0:
		return nil, delivery.Errorf(delivery.ErrInvalid, "rollout %s: no history", s.ID)
	}
	r := &rollout{Status: d.Status, bucketer: targeting.NewSaltedBucketer(d.Spec.salt()), lastData: d.LastData}
	r.Share = 0 // derived; snapshot recomputes it
	return r, nil
}

// supersedes reports whether r, rather than prev, is its model's latest
// rollout: the active one (a model has at most one), else the one created
// last.
func supersedes(r, prev *rollout) bool {
	if r.State.Active() != prev.State.Active() {
		return r.State.Active()
	}
	ra, pa := r.History[0].At, prev.History[0].At
	if !ra.Equal(pa) {
		return ra.After(pa)
	}
	return r.Spec.ID > prev.Spec.ID
}

// Reload replaces the controller's rollouts with those o.Persister holds,
// as Restore does, so a replica picks up transitions another replica
// saved (the leader's, or an operator's made through another replica). A
// rollout whose telemetry-gap timer was running keeps it. Without a
// Persister it does nothing. Replicas' writes are last-writer-wins: an
// operator acting through a follower at the moment the leader transitions
// the same rollout may see one of the two overwritten.
func (c *Controller) Reload(ctx context.Context) error {
	if c.opts.Persister == nil {
		return nil
	}
	// Load under the lock: an operator's action on this controller (which
	// saves under the lock) is then either in what is loaded or made after
	// the swap, never lost between the two.
	c.mu.Lock()
	defer c.mu.Unlock()
	saved, err := c.opts.Persister.LoadRollouts(ctx)
	if err != nil {
		return fmt.Errorf("rollout: reload: %w", err)
	}
	rollouts := make(map[string]*rollout, len(saved))
	byModel := map[string]*rollout{}
	now := c.clock.Now()
	for _, s := range saved {
		r, err := decode(s)
		if err != nil {
			return fmt.Errorf("rollout: reload: %w", err)
		}
		r.lastData = now
		if old, ok := c.rollouts[r.Spec.ID]; ok {
			r.lastData = old.lastData
		}
		rollouts[r.Spec.ID] = r
		if prev, ok := byModel[r.Spec.Model]; !ok || supersedes(r, prev) {
			byModel[r.Spec.Model] = r
		}
	}
	c.rollouts, c.byModel = rollouts, byModel
	return nil
}
