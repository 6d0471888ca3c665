package fl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Phase is where a task's current round is.
type Phase string

// The phases of a round. Idle is between rounds.
const (
	PhaseIdle          Phase = "idle"
	PhaseSelection     Phase = "selection"
	PhaseConfiguration Phase = "configuration"
	PhaseReporting     Phase = "reporting"
	PhaseDone          Phase = "done"
)

// RoundRecord is one committed or failed round attempt.
type RoundRecord struct {
	// Round is the round number (1-based) the attempt was for; Attempt the
	// attempt's unique id (the secagg round id).
	Round   int    `json:"round"`
	Attempt uint64 `json:"attempt"`
	// Committed reports success; Failure says why it did not.
	Committed bool   `json:"committed"`
	Failure   string `json:"failure,omitempty"`
	// Selected devices checked in; Reports are the updates in the sum;
	// Dropped were selected but are not in it.
	Selected int `json:"selected"`
	Reports  int `json:"reports"`
	Dropped  int `json:"dropped"`
	// Clipped counts coordinates the fixed-point encoding clipped, over
	// Coordinates summed (never silent: see secagg.Overflow).
	Clipped     uint64 `json:"clipped"`
	Coordinates uint64 `json:"coordinates"`
	// ClipNorm is the clip norm the round used; Unclipped the estimated
	// fraction of unclipped updates (adaptive clipping only).
	ClipNorm  float64 `json:"clip_norm"`
	Unclipped float64 `json:"unclipped,omitempty"`
	// UpdateNorm is the L2 norm of the averaged (noised) update applied.
	UpdateNorm float64 `json:"update_norm"`
	// Epsilon and Delta are the task's (ε, δ) after this round.
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
	// Start and End are on the coordinator's clock.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// state is what the coordinator persists.
type state struct {
	Version int  `json:"version"`
	Task    Task `json:"task"`
	// Rounds is the number of committed rounds.
	Rounds int `json:"rounds"`
	// Attempts counts round attempts (secagg round ids are 1..Attempts).
	Attempts uint64    `json:"attempts"`
	Phase    Phase     `json:"phase"`
	Start    time.Time `json:"start,omitzero"`
	// Deadline ends the current phase: the selection window in
	// selection, the round deadline after.
	Deadline time.Time `json:"deadline,omitzero"`
	Global   []float32 `json:"global"`
	// ClipNorm is the current clip norm (adaptive clipping moves it).
	ClipNorm  float64        `json:"clip_norm"`
	Optimizer OptimizerState `json:"optimizer"`
	History   []RoundRecord  `json:"history"`
	// Stopped says why the task ended (budget spent).
	Stopped string `json:"stopped,omitempty"`
}

const stateVersion = 1

// load reads the state file; ok is false when it does not exist.
func load(path string) (st *state, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("fl: load state: %w", err)
	}
	st = new(state)
	if err := json.Unmarshal(b, st); err != nil {
		return nil, false, fmt.Errorf("fl: load state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, false, fmt.Errorf("fl: load state %s: version %d, want %d", path, st.Version, stateVersion)
	}
	return st, true, nil
}

// save writes the state atomically: a temporary file in the same directory,
// synced, then renamed over the old one.
func save(path string, st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("fl: save state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".fl-state-*")
	if err != nil {
		return fmt.Errorf("fl: save state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("fl: save state: %w", err)
	}
	return nil
}
