package server

import (
	"context"
	"net/http"
	"net/url"

	"github.com/sextant-ml/sextant/delivery/rollout"
)

// CreateRollout creates and starts a rollout (a rollout-scope token).
func (c *Client) CreateRollout(ctx context.Context, spec rollout.Spec) (rollout.Status, error) {
	var out rollout.Status
	err := c.doJSON(ctx, http.MethodPost, "/v1/admin/rollouts", spec, &out)
	return out, err
}

// Rollouts lists every rollout, ordered by id.
func (c *Client) Rollouts(ctx context.Context) ([]rollout.Status, error) {
	var out struct {
		Rollouts []rollout.Status `json:"rollouts"`
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/rollouts", nil, &out)
	return out.Rollouts, err
}

// Rollout returns one rollout's status and history.
func (c *Client) Rollout(ctx context.Context, id string) (rollout.Status, error) {
	var out rollout.Status
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/rollouts/"+url.PathEscape(id), nil, &out)
	return out, err
}

// RolloutAct applies a manual override to a rollout: action is advance,
// pause, resume, rollback or kill; reason is recorded with it.
func (c *Client) RolloutAct(ctx context.Context, id, action, reason string) (rollout.Status, error) {
	var out rollout.Status
	err := c.doJSON(ctx, http.MethodPost, "/v1/admin/rollouts/"+url.PathEscape(id)+"/"+url.PathEscape(action), RolloutAction{Reason: reason}, &out)
	return out, err
}
