package rollout

import (
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/delivery/targeting"
)

// State is where a rollout is in its life.
type State int

const (
	// Pending: created, not started; devices keep the current version.
	Pending State = iota
	// Baking: at a stage, gates watched; advances when they pass after
	// the stage's bake time.
	Baking
	// Paused: held at its stage by hand or because telemetry stopped;
	// gates are still watched and a failure still rolls back, but it
	// never advances until resumed.
	Paused
	// Completed: every eligible device runs the candidate.
	Completed
	// RolledBack: a gate failed (or an operator rolled back); everyone
	// runs the current version again.
	RolledBack
	// Killed: stopped by the kill switch; everyone runs the current
	// version.
	Killed
)

var stateNames = [...]string{"pending", "baking", "paused", "completed", "rolled-back", "killed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText makes a State its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Active reports whether the rollout may still change what devices run
// (pending, baking or paused).
func (s State) Active() bool { return s == Pending || s == Baking || s == Paused }

// Record is one transition and the evidence it was decided on.
type Record struct {
	At    time.Time `json:"at"`
	From  State     `json:"from"`
	To    State     `json:"to"`
	Stage int       `json:"stage"`
	// Share is the candidate's share after the transition (basis points).
	Share uint32 `json:"share"`
	// Actor is "controller" for automatic transitions, else the operator.
	Actor  string       `json:"actor"`
	Reason string       `json:"reason"`
	Gates  []GateResult `json:"gates,omitempty"`
}

// Status is a snapshot of a rollout.
type Status struct {
	Spec  Spec  `json:"spec"`
	State State `json:"state"`
	// Stage indexes Spec.Stages (meaningful when baking or paused).
	Stage int `json:"stage"`
	// Share is the candidate's current share in basis points (100 % once
	// completed, 0 when pending, rolled back or killed).
	Share uint32 `json:"share"`
	// StageStarted is when the current stage began baking.
	StageStarted time.Time `json:"stage_started"`
	// LastEvaluated and LastGates are the latest evaluation.
	LastEvaluated time.Time    `json:"last_evaluated"`
	LastGates     []GateResult `json:"last_gates,omitempty"`
	History       []Record     `json:"history"`
}

// rollout is a Status plus what the assigner needs precomputed.
type rollout struct {
	Status
	bucketer targeting.SaltedBucketer
	// lastData is when the source last answered for this rollout.
	lastData time.Time
}

func (r *rollout) share() uint32 {
	switch r.State {
	case Baking, Paused:
		return r.Spec.Stages[r.Stage].Share
	case Completed:
		return targeting.Buckets
	}
	return 0
}

// version is the version a device with attributes a and unit id gets.
func (r *rollout) version(a *targeting.Attributes, unit string) string {
	switch r.State {
	case Baking, Paused:
		if r.Spec.Rule.Match(a) && r.bucketer.Bucket(unit) < r.share() {
			return r.Spec.Version
		}
	case Completed:
		if r.Spec.Rule.Match(a) {
			return r.Spec.Version
		}
	}
	return r.Spec.Current
}

func (r *rollout) snapshot() Status {
	s := r.Status
	s.Share = r.share()
	s.History = append([]Record(nil), r.History...)
	s.LastGates = append([]GateResult(nil), r.LastGates...)
	return s
}

// UnmarshalText parses a State's name, so a Status decodes from JSON.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("rollout: unknown state %q", b)
}
