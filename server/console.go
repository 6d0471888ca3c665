package server

import (
	"context"
	"net/http"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/server/console"
)

// consoleSource is what the web console reads: the same store, rollout
// controller, fleet tracker and providers the admin API answers from.
type consoleSource struct {
	delivery.Store
	s *Server
}

func (c consoleSource) Rollouts(ctx context.Context) ([]rollout.Status, error) {
	if c.s.cfg.Rollouts == nil {
		return nil, nil
	}
	return c.s.cfg.Rollouts.List(), nil
}

func (c consoleSource) Fleet(ctx context.Context) (console.Fleet, error) { return c.s.fleetView() }

func (c consoleSource) Tasks(ctx context.Context) ([]console.Task, error) { return c.s.tasks(ctx) }

func (c consoleSource) Experiments(ctx context.Context) ([]console.Experiment, error) {
	return c.s.experiments(ctx)
}

func (s *Server) tasks(ctx context.Context) ([]console.Task, error) {
	if s.cfg.Tasks == nil {
		return []console.Task{}, nil
	}
	ts, err := s.cfg.Tasks.Tasks(ctx)
	if ts == nil {
		ts = []console.Task{}
	}
	return ts, err
}

func (s *Server) experiments(ctx context.Context) ([]console.Experiment, error) {
	if s.cfg.Experiments == nil {
		return []console.Experiment{}, nil
	}
	xs, err := s.cfg.Experiments.Experiments(ctx)
	if xs == nil {
		xs = []console.Experiment{}
	}
	return xs, err
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, c *call) error {
	ts, err := s.tasks(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"tasks": ts})
	return nil
}

func (s *Server) listExperiments(w http.ResponseWriter, r *http.Request, c *call) error {
	xs, err := s.experiments(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"experiments": xs})
	return nil
}

// Fleet reads the fleet's version mix and inference split (read scope).
func (c *Client) Fleet(ctx context.Context) (console.Fleet, error) {
	var out console.Fleet
	err := c.do(ctx, http.MethodGet, "/v1/admin/fleet", nil, nil, 0, &out)
	return out, err
}

// FederatedTasks lists the federated tasks (read scope).
func (c *Client) FederatedTasks(ctx context.Context) ([]console.Task, error) {
	var out struct {
		Tasks []console.Task `json:"tasks"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/admin/fl/tasks", nil, nil, 0, &out)
	return out.Tasks, err
}

// Experiments lists the A/B tests (read scope).
func (c *Client) Experiments(ctx context.Context) ([]console.Experiment, error) {
	var out struct {
		Experiments []console.Experiment `json:"experiments"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/admin/experiments", nil, nil, 0, &out)
	return out.Experiments, err
}
