package console

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/fl"
)

// Source is what the console reads. The server implements it with the
// same calls its admin API makes, so the pages and the API agree.
type Source interface {
	// TokenByHash finds an admin token by delivery.HashSecret of its
	// secret (delivery.Tokens).
	TokenByHash(ctx context.Context, hash string) (delivery.Token, error)
	delivery.AuditLog
	ListModels(ctx context.Context) ([]delivery.Model, error)
	ListVersions(ctx context.Context, model string) ([]delivery.Version, error)
	// Rollouts lists every rollout by id; nil when the server runs no
	// rollout controller.
	Rollouts(ctx context.Context) ([]rollout.Status, error)
	// Fleet is GET /v1/admin/fleet's answer.
	Fleet(ctx context.Context) (Fleet, error)
	Tasks
	Experiments
}

// Fleet is the fleet as the server has seen it: the version mix of the
// devices that checked in since it started, and where predictions ran.
type Fleet struct {
	// Devices counts the devices that checked in since the server
	// started (at most the tracker's bound, see Tracked).
	Devices int `json:"devices"`
	// Models holds each model's version mix, by model name.
	Models []ModelMix `json:"models"`
	// ServerInferences counts the successful POST /v1/infer answers
	// since the server started.
	ServerInferences int64 `json:"server_inferences"`
	// Inference is the on-device vs server split the devices report
	// through the telemetry stream InferenceStream; nil when that stream
	// is not declared.
	Inference *InferenceShare `json:"inference,omitempty"`
}

// ModelMix is one model's versions across the fleet.
type ModelMix struct {
	Model string `json:"model"`
	// Versions counts devices per installed version, by version; a
	// device that reports the model not installed counts under "".
	Versions []VersionCount `json:"versions"`
}

// VersionCount is how many devices run a version.
type VersionCount struct {
	Version string `json:"version"`
	Devices int    `json:"devices"`
}

// InferenceStream is the telemetry stream whose field InferenceField
// says where a prediction ran: "device" or "server" (device/router's
// sources). Declaring it in the server's telemetry registry turns on the
// fleet page's on-device share.
const (
	InferenceStream = "inference_source"
	InferenceField  = "source"
)

// InferenceShare is the estimated split of predictions between the
// devices and the server, from the InferenceStream aggregate (local-DP
// estimates for cms/hcms streams, exact counts for none).
type InferenceShare struct {
	Stream  string  `json:"stream"`
	Reports int     `json:"reports"`
	Device  float64 `json:"device"`
	Server  float64 `json:"server"`
	// DeviceShare is Device / (Device + Server), 0 without reports.
	DeviceShare float64 `json:"device_share"`
}

// Task is a federated task's state: its settings and its rounds.
type Task struct {
	Name              string  `json:"name"`
	Model             string  `json:"model"`
	Phase             string  `json:"phase"`
	Rounds            int     `json:"rounds"`
	Population        int     `json:"population"`
	Target            int     `json:"target"`
	MinReports        int     `json:"min_reports"`
	EpsilonBudget     float64 `json:"epsilon_budget,omitempty"`
	SecureAggregation bool    `json:"secure_aggregation"`
	// History is every round attempt, committed or failed, in order.
	History []fl.RoundRecord `json:"history"`
}

// TaskOf reads a coordinator's state.
func TaskOf(c *fl.Coordinator) Task {
	t := c.Task()
	h := c.History()
	if h == nil {
		h = []fl.RoundRecord{}
	}
	return Task{Name: t.Name, Model: t.Model, Phase: string(c.Phase()), Rounds: c.Rounds(),
		Population: t.Population, Target: t.Target, MinReports: t.MinReports,
		EpsilonBudget: t.EpsilonBudget, SecureAggregation: t.SecureAggregation, History: h}
}

// Tasks lists federated tasks (GET /v1/admin/fl/tasks).
type Tasks interface {
	Tasks(ctx context.Context) ([]Task, error)
}

// Coordinators is a Tasks over running coordinators; the zero value is
// empty and ready. Safe for concurrent use.
type Coordinators struct {
	mu sync.Mutex
	cs []*fl.Coordinator
}

// Add makes a coordinator's task visible.
func (c *Coordinators) Add(co *fl.Coordinator) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cs = append(c.cs, co)
}

// Tasks implements Tasks, by task name.
func (c *Coordinators) Tasks(ctx context.Context) ([]Task, error) {
	c.mu.Lock()
	cs := slices.Clone(c.cs)
	c.mu.Unlock()
	out := make([]Task, 0, len(cs))
	for _, co := range cs {
		out = append(out, TaskOf(co))
	}
	slices.SortStableFunc(out, func(a, b Task) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Experiment is an A/B test's latest analysis.
type Experiment struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	Metric string `json:"metric"`
	// Control and Treatment are the versions compared.
	Control   string `json:"control"`
	Treatment string `json:"treatment"`
	// ControlUnits and TreatmentUnits are the arms' sizes.
	ControlUnits   float64 `json:"control_units"`
	TreatmentUnits float64 `json:"treatment_units"`
	// Result is treatment against control; SRM the sample-ratio check.
	Result experiment.Result    `json:"result"`
	SRM    experiment.SRMResult `json:"srm"`
	// Decision is the experiment's outcome so far, e.g. "ship",
	// "keep control", "running".
	Decision string `json:"decision,omitempty"`
}

// Experiments lists A/B tests (GET /v1/admin/experiments).
type Experiments interface {
	Experiments(ctx context.Context) ([]Experiment, error)
}

// ExperimentBoard is an Experiments that holds what it is told; the zero
// value is empty and ready. Safe for concurrent use.
type ExperimentBoard struct {
	mu sync.Mutex
	m  map[string]Experiment
}

// Put records (or replaces, by ID) an experiment's latest analysis.
func (b *ExperimentBoard) Put(e Experiment) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]Experiment{}
	}
	b.m[e.ID] = e
}

// Experiments implements Experiments, by ID.
func (b *ExperimentBoard) Experiments(ctx context.Context) ([]Experiment, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Experiment, 0, len(b.m))
	for _, e := range b.m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Experiment) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
