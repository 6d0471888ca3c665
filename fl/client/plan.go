package client

import (
	"errors"
	"fmt"
	"math"
)

// Loss names a training objective of a plan.
const (
	LossMSE          = "mse"
	LossCrossEntropy = "cross_entropy"
)

// Plan is what a device does in a round: the local training and the
// clipping of its update. The coordinator sends it with the global weights.
type Plan struct {
	// Epochs over the device's examples, in batches of BatchSize.
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	// LR is the local SGD learning rate.
	LR float64 `json:"lr"`
	// Params selects the trainable parameters (exact names or path.Match
	// globs, as train.MatchParams); the update covers exactly these.
	Params []string `json:"params"`
	// Loss is LossMSE or LossCrossEntropy on graph output Output.
	Loss   string `json:"loss"`
	Output string `json:"output"`
	// ClipNorm C bounds the L2 norm of a client's update (DP-FedAvg,
	// McMahan et al. 2018, Algorithm 1); the update is scaled down to C when
	// longer. Required.
	ClipNorm float64 `json:"clip_norm"`
	// NoiseMultiplier z: the coordinator adds N(0, (z·C)²) to each
	// coordinate of the sum. The device does not use it; it is part of the
	// plan so a device can show what it takes part in.
	NoiseMultiplier float64 `json:"noise_multiplier"`
	// ProxMu, when positive, adds FedProx's proximal term μ/2·‖w − w_global‖²
	// (Li et al. 2020, "Federated Optimization in Heterogeneous Networks",
	// eq. 2) to the local objective. It is applied as a decoupled proximal
	// gradient step after each SGD step: w ← w − lr·μ·(w − w_global).
	ProxMu float64 `json:"prox_mu,omitempty"`
	// ReportUnclipped adds one coordinate to the update for adaptive
	// clipping (Andrew et al. 2021, "Differentially Private Learning with
	// Adaptive Clipping"): b − ½, where b = 1 when the update's norm was at
	// most ClipNorm (± ½ rather than {0, 1} halves the sum's sensitivity).
	ReportUnclipped bool `json:"report_unclipped,omitempty"`
	// PlaintextForSimulation allows updates to leave the device without
	// secure aggregation. Only simulations and tests may set it.
	PlaintextForSimulation bool `json:"plaintext_for_simulation,omitempty"`
}

// ErrPlaintext is the refusal to send an update in the clear when the plan
// does not enable the simulation-only plaintext mode.
var ErrPlaintext = errors.New("fl: plaintext updates are not enabled by the plan")

// Validate checks the plan.
func (p Plan) Validate() error {
	switch {
	case p.Epochs < 0:
		return fmt.Errorf("fl: plan: epochs %d < 0", p.Epochs)
	case p.BatchSize <= 0:
		return fmt.Errorf("fl: plan: batch size %d must be positive", p.BatchSize)
	case !(p.LR > 0) || math.IsInf(p.LR, 0):
		return fmt.Errorf("fl: plan: learning rate %v must be positive", p.LR)
	case !(p.ClipNorm > 0) || math.IsInf(p.ClipNorm, 0):
		return fmt.Errorf("fl: plan: clip norm %v must be positive and finite", p.ClipNorm)
	case p.NoiseMultiplier < 0 || math.IsNaN(p.NoiseMultiplier) || math.IsInf(p.NoiseMultiplier, 0):
		return fmt.Errorf("fl: plan: noise multiplier %v must be finite and ≥ 0", p.NoiseMultiplier)
	case p.ProxMu < 0 || math.IsNaN(p.ProxMu):
		return fmt.Errorf("fl: plan: FedProx μ %v must be ≥ 0", p.ProxMu)
	case p.Loss != LossMSE && p.Loss != LossCrossEntropy:
		return fmt.Errorf("fl: plan: unknown loss %q", p.Loss)
	case p.Output == "":
		return errors.New("fl: plan: no loss output named")
	}
	return nil
}

// Join is the device's own coin flip: it joins a round with probability q,
// independently of every other device. Selecting clients this way is the
// Poisson sampling the subsampled-Gaussian accountant assumes. u is a
// uniform draw in [0, 1) from the device's randomness.
func Join(q, u float64) bool { return u < q }
