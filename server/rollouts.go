package server

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// Rollouts is what the admin rollout routes drive; *rollout.Controller
// implements it.
type Rollouts interface {
	rollout.Assigner
	Create(s rollout.Spec) (rollout.Status, error)
	Start(id, actor string) error
	Status(id string) (rollout.Status, error)
	List() []rollout.Status
	Advance(ctx context.Context, id, actor, reason string) error
	Pause(id, actor, reason string) error
	Resume(id, actor, reason string) error
	Rollback(id, actor, reason string) error
	Kill(id, actor, reason string) error
}

// RolloutAction is the body of POST /v1/admin/rollouts/{id}/{action}.
type RolloutAction struct {
	// Reason is recorded with the transition.
	Reason string `json:"reason,omitempty"`
}

// maxVersionCache bounds the cache of non-current versions a rollout
// assigns; versions are immutable, so entries never go stale.
const maxVersionCache = 1024

// versionCache holds the assignable form of versions other than a model's
// current one, so a rollout's check-ins read the store once per version.
type versionCache struct {
	mu sync.Mutex
	m  map[string]current
}

// assign returns what the director assigns a device for one model: the
// rollout's choice when the Assigner has one, else the current version c.
func (s *Server) assign(ctx context.Context, c current, attrs delivery.Attributes, unit string) (current, error) {
	if s.cfg.Assigner == nil {
		return c, nil
	}
	v := s.cfg.Assigner.Version(c.bundle.Model, targeting.Attributes(attrs), unit)
	if v == "" || v == c.bundle.Version {
		return c, nil
	}
	key := c.bundle.Model + "@" + v
	s.versions.mu.Lock()
	got, ok := s.versions.m[key]
	s.versions.mu.Unlock()
	if ok {
		return got, nil
	}
	ver, err := s.store.GetVersion(ctx, c.bundle.Model, v)
	if errors.Is(err, delivery.ErrNotFound) {
		// A rollout naming a version this registry lacks: keep the
		// current version rather than fail the check-in.
		s.log.WarnContext(ctx, "rollout assigns an unknown version; serving the current one")
		return c, nil
	}
	if err != nil {
		return current{}, err
	}
	if got, err = currentOf(ver); err != nil {
		return current{}, err
	}
	if got.deltas, err = deltasOf(ctx, s.store, ver); err != nil {
		return current{}, err
	}
	s.versions.mu.Lock()
	if s.versions.m == nil || len(s.versions.m) >= maxVersionCache {
		s.versions.m = map[string]current{}
	}
	s.versions.m[key] = got
	s.versions.mu.Unlock()
	return got, nil
}

// rollouts returns the configured controller or an ErrNotFound.
func (s *Server) rollouts() (Rollouts, error) {
	if s.cfg.Rollouts == nil {
		return nil, delivery.Errorf(delivery.ErrNotFound, "this server runs no rollout controller")
	}
	return s.cfg.Rollouts, nil
}

func (s *Server) createRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	ro, err := s.rollouts()
	if err != nil {
		return err
	}
	var spec rollout.Spec
	if err := readJSON(w, r, maxJSONBody, &spec); err != nil {
		return err
	}
	c.target = spec.ID
	if _, err := s.store.GetVersion(r.Context(), spec.Model, spec.Version); err != nil {
		return err
	}
	if _, err := ro.Create(spec); err != nil {
		return err
	}
	if err := ro.Start(spec.ID, c.token.ID); err != nil {
		return err
	}
	st, err := ro.Status(spec.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, st)
	return nil
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request, c *call) error {
	ro, err := s.rollouts()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"rollouts": ro.List()})
	return nil
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request, c *call) error {
	ro, err := s.rollouts()
	if err != nil {
		return err
	}
	c.target = r.PathValue("id")
	st, err := ro.Status(c.target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RolloutStatus{Status: st, Drift: s.drift(r.Context(), c.target)})
	return nil
}

// rolloutAction answers POST /v1/admin/rollouts/{id}/{action}: the manual
// overrides, recorded with the token's ID as the actor.
func (s *Server) rolloutAction(w http.ResponseWriter, r *http.Request, c *call) error {
	ro, err := s.rollouts()
	if err != nil {
		return err
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	c.target = id + ":" + action
	var req RolloutAction
	if r.ContentLength != 0 {
		if err := readJSON(w, r, maxJSONBody, &req); err != nil {
			return err
		}
	}
	actor := c.token.ID
	switch action {
	case "advance":
		err = ro.Advance(r.Context(), id, actor, req.Reason)
	case "pause":
		err = ro.Pause(id, actor, req.Reason)
	case "resume":
		err = ro.Resume(id, actor, req.Reason)
	case "rollback":
		err = ro.Rollback(id, actor, req.Reason)
	case "kill":
		err = ro.Kill(id, actor, req.Reason)
	default:
		return delivery.Errorf(delivery.ErrNotFound, "no rollout action %q (advance, pause, resume, rollback, kill)", action)
	}
	if err != nil {
		return err
	}
	// The director's choice changed: devices get it at their next
	// check-in, which recomputes every assignment.
	st, err := ro.Status(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
