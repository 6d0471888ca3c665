package fl

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sextant-ml/sextant/fl/client"
)

// Task is a federated training task.
type Task struct {
	// Name identifies the task (and its privacy-ledger account).
	Name string `json:"name"`
	// Model names the model being trained (its registry name).
	Model string `json:"model"`
	// Plan is what each device does in a round.
	Plan client.Plan `json:"plan"`
	// Population is the number of devices eligible for the task; with
	// Target and OverSelection it fixes the sampling rate q.
	Population int `json:"population"`
	// Target is the number of reports wanted per round; OverSelection (≥ 1,
	// e.g. 1.3 as Bonawitz et al. 2019 §2.2) inflates the expected number
	// of devices that join to absorb dropouts.
	Target        int     `json:"target"`
	OverSelection float64 `json:"over_selection"`
	// MinReports is the fewest reports a round may commit with (also the
	// least number of devices a round's selection must reach).
	MinReports int `json:"min_reports"`
	// SelectionWindow is how long a round accepts check-ins;
	// RoundDeadline how long configuration and reporting may take after
	// it.
	SelectionWindow time.Duration `json:"selection_window"`
	RoundDeadline   time.Duration `json:"round_deadline"`
	// Optimizer is the server optimizer.
	Optimizer ServerOptimizer `json:"optimizer"`
	// Delta is the δ at which (ε, δ) is reported (default 1/Population).
	Delta float64 `json:"delta,omitempty"`
	// EpsilonBudget, when positive, stops the task once a further round
	// would exceed it.
	EpsilonBudget float64 `json:"epsilon_budget,omitempty"`
	// AdaptiveClip, when set, adapts the clip norm each round, starting
	// from Plan.ClipNorm.
	AdaptiveClip *AdaptiveClip `json:"adaptive_clip,omitempty"`
	// SecureAggregation masks every update (secagg); off only with the
	// plan's PlaintextForSimulation.
	SecureAggregation bool `json:"secure_aggregation"`
	// DistributedDP moves the noise onto the devices: each adds discrete
	// Gaussian noise to its encoded update before masking (ddp.go).
	DistributedDP bool `json:"distributed_dp,omitempty"`
	// SecAggPlus uses SecAgg+'s k-regular neighbour graph (Bell et al.
	// 2020) at any round size; by default it is used above 1,000 clients
	// and the complete graph below.
	SecAggPlus bool `json:"secagg_plus,omitempty"`
}

// Q is the probability with which each eligible device joins a round:
// the expected number of joiners Target·OverSelection over Population.
func (t Task) Q() float64 {
	return math.Min(1, float64(t.Target)*t.OverSelection/float64(t.Population))
}

// delta is the δ (ε, δ) is reported at.
func (t Task) delta() float64 {
	if t.Delta > 0 {
		return t.Delta
	}
	return 1 / float64(t.Population)
}

// Validate checks the task.
func (t Task) Validate() error {
	if t.Name == "" {
		return errors.New("fl: task has no name")
	}
	if err := t.Plan.Validate(); err != nil {
		return fmt.Errorf("fl: task %s: %w", t.Name, err)
	}
	if err := t.Optimizer.Validate(); err != nil {
		return fmt.Errorf("fl: task %s: %w", t.Name, err)
	}
	switch {
	case t.Population <= 0 || t.Target <= 0 || t.Target > t.Population:
		return fmt.Errorf("fl: task %s: need 0 < target %d ≤ population %d", t.Name, t.Target, t.Population)
	case !(t.OverSelection >= 1) || math.IsInf(t.OverSelection, 0):
		return fmt.Errorf("fl: task %s: over-selection %v must be ≥ 1", t.Name, t.OverSelection)
	case t.MinReports <= 0 || t.MinReports > t.Target:
		return fmt.Errorf("fl: task %s: need 0 < min reports %d ≤ target %d", t.Name, t.MinReports, t.Target)
	case t.SelectionWindow <= 0 || t.RoundDeadline <= 0:
		return fmt.Errorf("fl: task %s: selection window and round deadline must be positive", t.Name)
	case t.Delta < 0 || t.Delta >= 1:
		return fmt.Errorf("fl: task %s: δ %v must be in [0, 1)", t.Name, t.Delta)
	case !t.SecureAggregation && !t.Plan.PlaintextForSimulation:
		return fmt.Errorf("fl: task %s: %w (enable secure aggregation)", t.Name, client.ErrPlaintext)
	}
	if err := t.validateDistributed(); err != nil {
		return fmt.Errorf("fl: task %s: %w", t.Name, err)
	}
	if t.AdaptiveClip != nil {
		if err := t.AdaptiveClip.Validate(t.Plan.NoiseMultiplier); err != nil {
			return fmt.Errorf("fl: task %s: %w", t.Name, err)
		}
	}
	return nil
}
