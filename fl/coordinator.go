package fl

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/ledger"
	"github.com/sextant-ml/sextant/privacy/noise"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/secagg/server"
)

// Errors callers branch on (wrapped; test with errors.Is).
var (
	// ErrPhase: the call does not belong to the round's current phase.
	ErrPhase = errors.New("fl: wrong phase")
	// ErrRoundFailed: the round failed (too few devices or reports, or its
	// deadline passed); nothing was applied, Begin retries.
	ErrRoundFailed = errors.New("fl: round failed")
	// ErrBudget: a further round would exceed the task's ε budget.
	ErrBudget = errors.New("fl: privacy budget spent")
	// ErrDevice: a device is unknown to the round or repeats itself.
	ErrDevice = errors.New("fl: unknown or duplicate device")
)

// Config configures a Coordinator.
type Config struct {
	// Task is used when StatePath holds no state yet; otherwise the
	// persisted task is resumed (and Task, if set, must have its name).
	Task Task
	// Model is the task's model; its trainable parameters (Task.Plan.Params)
	// are the global weights, initialised from it on the first Open.
	Model *graph.Graph
	// StatePath is the JSON file the state is persisted to.
	StatePath string
	// Ledger records each DP round's (q, z); required when the plan's
	// noise multiplier is positive.
	Ledger *ledger.Ledger
	// Clock times the phases; nil is clock.Real.
	Clock clock.Clock
	// Rand feeds secure aggregation (the SecAgg+ labelling); nil is
	// crypto/rand. Noise draws DP noise; nil is noise.CryptoRand().
	Rand  io.Reader
	Noise *rand.Rand
}

// Assignment is what a selected device receives in configuration (the wire
// type lives with the device half).
type Assignment = client.Assignment

// Coordinator runs a task's rounds. Its methods are safe for concurrent use.
type Coordinator struct {
	mu     sync.Mutex
	cfg    Config
	clk    clock.Clock
	layout client.Layout
	st     *state

	// The round in flight (not persisted: a restart fails it).
	devices map[string]uint32
	ids     []uint32
	params  *secagg.Params
	sa      *server.Round
	plain   map[uint32][]float32
	// noiseUnits is each device's distributed-DP noise σ (fixed-point
	// units) and noiseEff the round's effective noise multiplier.
	noiseUnits, noiseEff float64
	// lastSum is the last aggregate before noise (for tests).
	lastSum []float64
	// vecBuf receives each masked vector deliver decodes (the round sums
	// it and keeps none).
	vecBuf []uint32
}

// Open resumes the task persisted at cfg.StatePath, or starts cfg.Task.
// A round that was in flight when the state was saved is failed.
func Open(cfg Config) (*Coordinator, error) {
	if cfg.Model == nil || cfg.StatePath == "" {
		return nil, errors.New("fl: open: a model and a state path are required")
	}
	c := &Coordinator{cfg: cfg, clk: cfg.Clock}
	if c.clk == nil {
		c.clk = clock.Real
	}
	if cfg.Noise == nil {
		c.cfg.Noise = noise.CryptoRand()
	}
	st, ok, err := load(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	if ok {
		if cfg.Task.Name != "" && cfg.Task.Name != st.Task.Name {
			return nil, fmt.Errorf("fl: open: %s holds task %q, not %q", cfg.StatePath, st.Task.Name, cfg.Task.Name)
		}
	} else {
		st = &state{Version: stateVersion, Task: cfg.Task, Phase: PhaseIdle, ClipNorm: cfg.Task.Plan.ClipNorm}
	}
	if err := st.Task.Validate(); err != nil {
		return nil, err
	}
	if st.Task.Plan.NoiseMultiplier > 0 && cfg.Ledger == nil {
		return nil, errors.New("fl: open: a DP task needs a privacy ledger")
	}
	if c.layout, err = client.NewLayout(cfg.Model, st.Task.Plan.Params); err != nil {
		return nil, err
	}
	if !ok {
		if st.Global, err = c.layout.Flatten(cfg.Model); err != nil {
			return nil, err
		}
	} else if len(st.Global) != c.layout.Dim() {
		return nil, fmt.Errorf("fl: open: state has %d weights, model %d", len(st.Global), c.layout.Dim())
	}
	c.st = st
	if st.Phase != PhaseIdle && st.Phase != PhaseDone {
		c.failLocked("coordinator restarted during the round")
	}
	if err := save(cfg.StatePath, c.st); err != nil {
		return nil, err
	}
	return c, nil
}

// Task returns the task.
func (c *Coordinator) Task() Task { c.mu.Lock(); defer c.mu.Unlock(); return c.st.Task }

// Layout returns the order of the trainable parameters in Global.
func (c *Coordinator) Layout() client.Layout { return c.layout }

// Phase returns the current phase.
func (c *Coordinator) Phase() Phase { c.mu.Lock(); defer c.mu.Unlock(); return c.st.Phase }

// Rounds returns the number of committed rounds.
func (c *Coordinator) Rounds() int { c.mu.Lock(); defer c.mu.Unlock(); return c.st.Rounds }

// Global returns a copy of the global weights (layout order).
func (c *Coordinator) Global() []float32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.st.Global)
}

// History returns the round attempts so far.
func (c *Coordinator) History() []RoundRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.st.History)
}

// Begin starts selection for the next round and returns the probability q
// with which each eligible device should join (client.Join) and the end of
// the selection window.
func (c *Coordinator) Begin() (q float64, until time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Phase != PhaseIdle {
		return 0, time.Time{}, fmt.Errorf("%w: begin in %s", ErrPhase, c.st.Phase)
	}
	if err := c.checkBudget(); err != nil {
		return 0, time.Time{}, err
	}
	now := c.clk.Now()
	c.st.Attempts++
	c.st.Phase, c.st.Start, c.st.Deadline = PhaseSelection, now, now.Add(c.st.Task.SelectionWindow)
	c.devices, c.ids, c.sa, c.params, c.plain = map[string]uint32{}, nil, nil, nil, nil
	if err := save(c.cfg.StatePath, c.st); err != nil {
		return 0, time.Time{}, err
	}
	return c.st.Task.Q(), c.st.Deadline, nil
}

// CheckIn admits a device that flipped its coin and joined during
// selection, and returns its id in the round. Every such device is admitted:
// capping or choosing among them would break the Poisson sampling the
// privacy accounting assumes.
func (c *Coordinator) CheckIn(device string) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Phase != PhaseSelection {
		return 0, fmt.Errorf("%w: check-in in %s", ErrPhase, c.st.Phase)
	}
	if !c.clk.Now().Before(c.st.Deadline) {
		return 0, fmt.Errorf("%w: selection window closed", ErrPhase)
	}
	if _, dup := c.devices[device]; dup {
		return 0, fmt.Errorf("%w: %q checked in twice", ErrDevice, device)
	}
	id := uint32(len(c.ids) + 1)
	c.devices[device] = id
	c.ids = append(c.ids, id)
	return id, nil
}

// CloseSelection ends selection (Tick does so at the window's end): with at
// least MinReports devices the round moves to configuration, otherwise it
// fails.
func (c *Coordinator) CloseSelection() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeSelectionLocked()
}

func (c *Coordinator) closeSelectionLocked() error {
	if c.st.Phase != PhaseSelection {
		return fmt.Errorf("%w: close selection in %s", ErrPhase, c.st.Phase)
	}
	t := c.st.Task
	if len(c.ids) < t.MinReports {
		return c.failLocked(fmt.Sprintf("%d devices joined, %d needed", len(c.ids), t.MinReports))
	}
	if t.SecureAggregation {
		p, err := secaggParams(c.st.Attempts, c.dim(), len(c.ids), max(c.st.ClipNorm, 0.5), t.MinReports, t.distributedZ(), t.SecAggPlus)
		if err != nil {
			return c.failLocked(err.Error())
		}
		c.noiseUnits, c.noiseEff = 0, 0
		if t.DistributedDP {
			if c.noiseUnits, c.noiseEff, err = distributedNoise(p, c.st.ClipNorm, t.Plan.NoiseMultiplier, t.MinReports); err != nil {
				return c.failLocked(err.Error())
			}
		}
		sa, err := server.New(server.Config{Params: p, Clients: c.ids, Rand: c.cfg.Rand})
		if err != nil {
			return c.failLocked(err.Error())
		}
		c.params, c.sa = &p, sa
	} else {
		c.plain = map[uint32][]float32{}
	}
	c.st.Phase, c.st.Deadline = PhaseConfiguration, c.clk.Now().Add(t.RoundDeadline)
	return save(c.cfg.StatePath, c.st)
}

// Configure returns device id's assignment.
func (c *Coordinator) Configure(id uint32) (*Assignment, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Phase != PhaseConfiguration {
		return nil, fmt.Errorf("%w: configure in %s", ErrPhase, c.st.Phase)
	}
	if _, ok := slices.BinarySearch(c.ids, id); !ok {
		return nil, fmt.Errorf("%w: id %d", ErrDevice, id)
	}
	a := &Assignment{Round: c.st.Rounds + 1, Attempt: c.st.Attempts, ID: id, Plan: c.st.Task.Plan, Global: slices.Clone(c.st.Global)}
	a.Plan.ClipNorm, a.Plan.ReportUnclipped = c.st.ClipNorm, c.st.Task.AdaptiveClip != nil
	if c.params != nil {
		p := *c.params
		a.SecAgg = &p
		a.NoiseUnits = c.noiseUnits
	}
	return a, nil
}

// dim is the length of a device's contribution: the update, plus the
// unclipped indicator with adaptive clipping.
func (c *Coordinator) dim() int {
	if c.st.Task.AdaptiveClip != nil {
		return c.layout.Dim() + 1
	}
	return c.layout.Dim()
}

// ClipNorm is the clip norm of the next round.
func (c *Coordinator) ClipNorm() float64 { c.mu.Lock(); defer c.mu.Unlock(); return c.st.ClipNorm }

// failLocked ends the round in flight without applying anything.
func (c *Coordinator) failLocked(why string) error {
	now := c.clk.Now()
	c.st.History = append(c.st.History, RoundRecord{Round: c.st.Rounds + 1, Attempt: c.st.Attempts,
		Failure: why, Selected: len(c.ids), Start: c.st.Start, End: now})
	c.st.Phase, c.st.Deadline = PhaseIdle, time.Time{}
	c.devices, c.ids, c.sa, c.params, c.plain = nil, nil, nil, nil, nil
	if err := save(c.cfg.StatePath, c.st); err != nil {
		return err
	}
	return fmt.Errorf("%w: round %d attempt %d: %s", ErrRoundFailed, c.st.Rounds+1, c.st.Attempts, why)
}

// Tick enforces the phase deadlines on the clock: the end of the selection
// window closes selection; a round still unfinished at its deadline fails.
func (c *Coordinator) Tick() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clk.Now()
	switch c.st.Phase {
	case PhaseSelection:
		if !now.Before(c.st.Deadline) {
			return c.closeSelectionLocked()
		}
	case PhaseConfiguration, PhaseReporting:
		if !now.Before(c.st.Deadline) {
			return c.failLocked("round deadline passed")
		}
	}
	return nil
}
