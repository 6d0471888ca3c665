// Package flsim simulates federated learning in one process: a population of
// synthetic devices, each with its own non-identically distributed data,
// runs the task's rounds against an fl.Service through the real protocol
// (fl/client participants over fl.LocalConn: selection by each device's own
// coin, configuration, local training, secure aggregation with dropouts,
// DP), and the global model is scored on held-out devices after every round.
// In its next-destination mode (model.arch next-destination) the devices are
// the users of a features table training the flagship ranker, and the run
// ends by comparing on-device fine-tuning with local-only training
// (nextdest.go). `sextant fl simulate` and the package's benchmarks run it.
package flsim

import (
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
)

// Spec is a simulation's task file (YAML). Durations are Go durations
// ("1m", "10s"). See docs/fl.md for the schema with defaults.
type Spec struct {
	Name  string    `yaml:"name"`
	Model ModelSpec `yaml:"model"`
	Data  DataSpec  `yaml:"data"`
	Plan  PlanSpec  `yaml:"plan"`
	// Target reports per round, over-selection (default 1.3), minimum
	// reports (default ⌈0.8·target⌉).
	Target        int     `yaml:"target"`
	OverSelection float64 `yaml:"over_selection"`
	MinReports    int     `yaml:"min_reports"`
	// SelectionWindow (default 1m) and RoundDeadline (default 10m).
	SelectionWindow time.Duration `yaml:"selection_window"`
	RoundDeadline   time.Duration `yaml:"round_deadline"`
	Optimizer       OptimizerSpec `yaml:"optimizer"`
	// Delta (default 1/population) and EpsilonBudget (0: none).
	Delta         float64 `yaml:"delta"`
	EpsilonBudget float64 `yaml:"epsilon_budget"`
	// SecureAggregation defaults to true; DistributedDP moves the noise
	// onto the devices (discrete Gaussian before masking).
	SecureAggregation *bool         `yaml:"secure_aggregation"`
	DistributedDP     bool          `yaml:"distributed_dp"`
	SecAggPlus        bool          `yaml:"secagg_plus"`
	AdaptiveClip      *AdaptiveSpec `yaml:"adaptive_clip"`
	// Personalize and Local configure the next-destination mode's final
	// evaluation (see nextdest.go).
	Personalize *LocalSpec `yaml:"personalize"`
	Local       *LocalSpec `yaml:"local"`
	// Tune, when set, chooses Personalize and Local per slice on a
	// validation split of the scored users' training rows (personalize.go).
	Tune  *TuneSpec      `yaml:"tune"`
	Extra map[string]any `yaml:",inline"`
}

// ModelSpec is the model trained. Arch "" or "mlp" is the MLP: Inputs
// features, Hidden widths (default [64]), Classes logits, on synthetic
// data. Arch "next-destination" is models/flagship's next-destination
// ranker (Hidden: its two scorer widths, default [64, 32]) on the
// features table in Data.Path (see nextdest.go).
//
// Init (next destination only) is a bundle of the same architecture to
// start from — the DP-SGD prior of a donor cohort — and InitCohort says
// whether its donors are "disjoint" from the federated population or
// "overlapping" it, which decides how the two privacy costs combine in the
// written model's provenance (prior.go).
type ModelSpec struct {
	Arch       string `yaml:"arch"`
	Inputs     int    `yaml:"inputs"`
	Hidden     []int  `yaml:"hidden"`
	Classes    int    `yaml:"classes"`
	Init       string `yaml:"init"`
	InitCohort string `yaml:"init_cohort"`
}

// ArchNextDestination is ModelSpec.Arch of the next-destination mode.
const ArchNextDestination = "next-destination"

// DataSpec is the synthetic population's data: Examples per device
// (default 50), Holdout devices scored after each round (default 100),
// LabelSkew ∈ [0, 1] the share of a device's examples drawn from its two
// favourite classes (default 0.5: non-IID), Noise the within-class spread
// (default 1), Seed.
//
// The next-destination mode reads Path instead: a directory of `sextant
// data features --kind next-destination` (train.parquet, test.parquet),
// one device per user_id. NewUsers ∈ [0, 1] is the share of users (chosen
// by user_id) who keep only their last NewUserDays days (default 7) of
// training examples — the short-history slice; Holdout is the number of
// users scored (global model per round; personalization and local-only
// training at the end).
type DataSpec struct {
	Path        string   `yaml:"path"`
	NewUsers    float64  `yaml:"new_users"`
	NewUserDays int      `yaml:"new_user_days"`
	Examples    int      `yaml:"examples"`
	Holdout     int      `yaml:"holdout"`
	LabelSkew   *float64 `yaml:"label_skew"`
	Noise       float64  `yaml:"noise"`
	Seed        uint64   `yaml:"seed"`
}

// PlanSpec is the devices' plan (fl/client.Plan). Params are the
// trainable parameters (names or globs; default all).
type PlanSpec struct {
	Params          []string `yaml:"params"`
	Epochs          int      `yaml:"epochs"`
	BatchSize       int      `yaml:"batch_size"`
	LR              float64  `yaml:"lr"`
	ClipNorm        float64  `yaml:"clip_norm"`
	NoiseMultiplier float64  `yaml:"noise_multiplier"`
	ProxMu          float64  `yaml:"prox_mu"`
}

// LocalSpec is training on one device alone: Params (names or globs),
// Epochs, BatchSize, LR (SGD).
type LocalSpec struct {
	Params    []string `yaml:"params"`
	Epochs    int      `yaml:"epochs"`
	BatchSize int      `yaml:"batch_size"`
	LR        float64  `yaml:"lr"`
}

// AdaptiveSpec is adaptive clipping (fl.AdaptiveClip).
type AdaptiveSpec struct {
	TargetQuantile float64 `yaml:"target_quantile"`
	LR             float64 `yaml:"lr"`
	CountStddev    float64 `yaml:"count_stddev"`
}

// OptimizerSpec is the server optimizer (fl.ServerOptimizer).
type OptimizerSpec struct {
	Kind  string  `yaml:"kind"`
	LR    float64 `yaml:"lr"`
	Beta1 float64 `yaml:"beta1"`
	Beta2 float64 `yaml:"beta2"`
	Tau   float64 `yaml:"tau"`
}

// withDefaults fills the defaults and checks what fl.Task does not.
func (s Spec) withDefaults() (Spec, error) {
	if len(s.Extra) > 0 {
		for k := range s.Extra {
			return s, fmt.Errorf("flsim: unknown task field %q", k)
		}
	}
	if s.Name == "" {
		s.Name = "simulated"
	}
	switch s.Model.Arch {
	case "", "mlp":
		if s.Model.Inputs <= 0 || s.Model.Classes < 2 {
			return s, fmt.Errorf("flsim: model needs inputs > 0 and classes ≥ 2, got %d and %d", s.Model.Inputs, s.Model.Classes)
		}
		if len(s.Model.Hidden) == 0 {
			s.Model.Hidden = []int{64}
		}
		if s.Data.Path != "" || s.Personalize != nil || s.Local != nil || s.Tune != nil || s.Model.Init != "" {
			return s, fmt.Errorf("flsim: data.path, model.init, personalize, local and tune need model.arch %s", ArchNextDestination)
		}
	case ArchNextDestination:
		if s.Data.Path == "" {
			return s, fmt.Errorf("flsim: model.arch %s needs data.path (a sextant data features directory)", ArchNextDestination)
		}
		if s.Data.NewUsers < 0 || s.Data.NewUsers > 1 {
			return s, fmt.Errorf("flsim: data.new_users %v outside [0, 1]", s.Data.NewUsers)
		}
		if s.Model.Init != "" && s.Model.InitCohort != CohortDisjoint && s.Model.InitCohort != CohortOverlapping {
			return s, fmt.Errorf("flsim: model.init needs model.init_cohort %s or %s (are the prior's donors in the federated population?), got %q",
				CohortDisjoint, CohortOverlapping, s.Model.InitCohort)
		}
		if s.Data.NewUserDays <= 0 {
			s.Data.NewUserDays = 7
		}
		s.Personalize = localDefaults(s.Personalize, []string{"head.*"}, 5, 0.05)
		s.Local = localDefaults(s.Local, []string{"*"}, 20, 0.1)
	default:
		return s, fmt.Errorf("flsim: unknown model.arch %q (mlp or %s)", s.Model.Arch, ArchNextDestination)
	}
	if len(s.Plan.Params) == 0 {
		s.Plan.Params = []string{"*"}
	}
	if s.Data.Examples <= 0 {
		s.Data.Examples = 50
	}
	if s.Data.Holdout <= 0 {
		s.Data.Holdout = 100
	}
	if s.Data.LabelSkew == nil {
		v := 0.5
		s.Data.LabelSkew = &v
	}
	if *s.Data.LabelSkew < 0 || *s.Data.LabelSkew > 1 {
		return s, fmt.Errorf("flsim: label_skew %v outside [0, 1]", *s.Data.LabelSkew)
	}
	if s.Data.Noise <= 0 {
		s.Data.Noise = 1
	}
	if s.Plan.Epochs == 0 {
		s.Plan.Epochs = 1
	}
	if s.Plan.BatchSize == 0 {
		s.Plan.BatchSize = 10
	}
	if s.Plan.LR == 0 {
		s.Plan.LR = 0.1
	}
	if s.Plan.ClipNorm == 0 {
		s.Plan.ClipNorm = 1
	}
	if s.OverSelection == 0 {
		s.OverSelection = 1.3
	}
	if s.MinReports == 0 {
		s.MinReports = (4*s.Target + 4) / 5
	}
	if s.SelectionWindow == 0 {
		s.SelectionWindow = time.Minute
	}
	if s.RoundDeadline == 0 {
		s.RoundDeadline = 10 * time.Minute
	}
	if s.Optimizer.Kind == "" {
		s.Optimizer.Kind = fl.FedAvg
	}
	if s.SecureAggregation == nil {
		v := true
		s.SecureAggregation = &v
	}
	return s, nil
}

// Task is the fl.Task of the spec for a population.
func (s Spec) Task(population int) (fl.Task, error) {
	s, err := s.withDefaults()
	if err != nil {
		return fl.Task{}, err
	}
	t := fl.Task{
		Name: s.Name, Model: s.Name,
		Plan: client.Plan{Epochs: s.Plan.Epochs, BatchSize: s.Plan.BatchSize, LR: s.Plan.LR, Params: s.Plan.Params,
			Loss: client.LossCrossEntropy, Output: "logits", ClipNorm: s.Plan.ClipNorm, NoiseMultiplier: s.Plan.NoiseMultiplier,
			ProxMu: s.Plan.ProxMu, PlaintextForSimulation: !*s.SecureAggregation},
		Population: population, Target: s.Target, OverSelection: s.OverSelection, MinReports: s.MinReports,
		SelectionWindow: s.SelectionWindow, RoundDeadline: s.RoundDeadline,
		Optimizer: fl.ServerOptimizer{Kind: s.Optimizer.Kind, LR: s.Optimizer.LR, Beta1: s.Optimizer.Beta1, Beta2: s.Optimizer.Beta2, Tau: s.Optimizer.Tau},
		Delta:     s.Delta, EpsilonBudget: s.EpsilonBudget,
		SecureAggregation: *s.SecureAggregation, DistributedDP: s.DistributedDP, SecAggPlus: s.SecAggPlus,
	}
	if a := s.AdaptiveClip; a != nil {
		t.AdaptiveClip = &fl.AdaptiveClip{TargetQuantile: a.TargetQuantile, LR: a.LR, CountStddev: a.CountStddev}
	}
	return t, t.Validate()
}

func localDefaults(l *LocalSpec, params []string, epochs int, lr float64) *LocalSpec {
	out := LocalSpec{Params: params, Epochs: epochs, BatchSize: 10, LR: lr}
	if l != nil {
		if len(l.Params) > 0 {
			out.Params = l.Params
		}
		if l.Epochs > 0 {
			out.Epochs = l.Epochs
		}
		if l.BatchSize > 0 {
			out.BatchSize = l.BatchSize
		}
		if l.LR > 0 {
			out.LR = l.LR
		}
	}
	return &out
}
