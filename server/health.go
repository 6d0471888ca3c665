package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
)

// HealthSink takes the health reports devices send with their check-ins;
// *delivery/health.Aggregator implements it. device is the check-in's
// device id (the privacy unit; the report carries no identifier).
type HealthSink interface {
	Ingest(ctx context.Context, device string, rep *dhealth.Report) error
}

// DriftSource says how a rollout's inputs drift from the candidate's
// training distribution; *delivery/health.Aggregator implements it. A nil
// report means drift is not measured.
type DriftSource interface {
	Drift(ctx context.Context, rolloutID string) (*health.DriftReport, error)
}

// RolloutStatus is GET /v1/admin/rollouts/{id}: the controller's status
// and, when the server measures it, the rollout's input drift.
type RolloutStatus struct {
	rollout.Status
	Drift *health.DriftReport `json:"drift,omitempty"`
}

// ingestHealth hands a check-in's health report to the sink. A report the
// sink refuses is dropped with a warning: telemetry never stands between a
// device and its updates.
func (s *Server) ingestHealth(ctx context.Context, device string, rep *dhealth.Report) {
	if rep.Empty() || s.cfg.Health == nil {
		return
	}
	if err := s.cfg.Health.Ingest(ctx, device, rep); err != nil {
		level := "dropped a health report"
		if !errors.Is(err, dhealth.ErrInvalid) {
			level = "health sink failed"
		}
		s.log.WarnContext(ctx, level, "err", err)
	}
}

// drift returns rollout id's drift, or nil when it is not measured or
// cannot be computed now (logged; the status is shown regardless).
func (s *Server) drift(ctx context.Context, id string) *health.DriftReport {
	if s.cfg.Drift == nil {
		return nil
	}
	d, err := s.cfg.Drift.Drift(ctx, id)
	if err != nil {
		s.log.WarnContext(ctx, "rollout drift", "rollout", id, "err", err)
		return nil
	}
	return d
}

// RolloutStatus returns one rollout's status, history and input drift.
func (c *Client) RolloutStatus(ctx context.Context, id string) (RolloutStatus, error) {
	var out RolloutStatus
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/rollouts/"+url.PathEscape(id), nil, &out)
	return out, err
}
