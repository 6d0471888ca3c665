package fl

import (
	"fmt"
	"math"
)

// Server optimizer kinds.
const (
	FedAvg  = "fedavg"
	FedAvgM = "fedavgm"
	FedAdam = "fedadam"
	FedYogi = "fedyogi"
)

// ServerOptimizer applies a round's averaged update Δ (the mean of the
// clients' new − old weights) to the global weights x. Following Reddi et
// al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2 (with
// FedAvgM from Hsu et al. 2019, "Measuring the Effects of Non-Identical Data
// Distribution"):
//
//	FedAvg:  x ← x + η·Δ                                   (η = 1: McMahan et al. 2017)
//	FedAvgM: m ← β1·m + Δ;  x ← x + η·m
//	FedAdam: m ← β1·m + (1−β1)·Δ;  v ← β2·v + (1−β2)·Δ²;  x ← x + η·m/(√v + τ)
//	FedYogi: m as FedAdam;  v ← v − (1−β2)·Δ²·sign(v − Δ²); x ← x + η·m/(√v + τ)
//
// with v starting at τ² (their Algorithm 2 requires v₋₁ ≥ τ²) and no bias
// correction, as in the paper. Zero Beta1, Beta2, Tau take the paper's
// defaults 0.9, 0.99, 1e-3; zero LR takes 1.
type ServerOptimizer struct {
	Kind  string  `json:"kind"`
	LR    float64 `json:"lr,omitempty"`
	Beta1 float64 `json:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty"`
	Tau   float64 `json:"tau,omitempty"`
}

// OptimizerState is the server optimizer's per-coordinate state, persisted
// with the coordinator.
type OptimizerState struct {
	M []float64 `json:"m,omitempty"`
	V []float64 `json:"v,omitempty"`
}

func (o ServerOptimizer) defaults() ServerOptimizer {
	if o.LR == 0 {
		o.LR = 1
	}
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.99
	}
	if o.Tau == 0 {
		o.Tau = 1e-3
	}
	return o
}

// Validate checks the optimizer's settings.
func (o ServerOptimizer) Validate() error {
	switch o.Kind {
	case FedAvg, FedAvgM, FedAdam, FedYogi:
	default:
		return fmt.Errorf("fl: unknown server optimizer %q", o.Kind)
	}
	d := o.defaults()
	if !(d.LR > 0) || !(d.Beta1 >= 0 && d.Beta1 < 1) || !(d.Beta2 > 0 && d.Beta2 < 1) || !(d.Tau > 0) {
		return fmt.Errorf("fl: server optimizer %+v: need lr > 0, β1 ∈ [0,1), β2 ∈ (0,1), τ > 0", o)
	}
	return nil
}

// Apply updates x in place with the averaged update delta.
func (o ServerOptimizer) Apply(x []float32, delta []float64, st *OptimizerState) error {
	if len(x) != len(delta) {
		return fmt.Errorf("fl: optimizer: %d weights, %d update coordinates", len(x), len(delta))
	}
	d := o.defaults()
	n := len(x)
	if o.Kind != FedAvg && len(st.M) != n {
		st.M = make([]float64, n)
	}
	if (o.Kind == FedAdam || o.Kind == FedYogi) && len(st.V) != n {
		st.V = make([]float64, n)
		for i := range st.V {
			st.V[i] = d.Tau * d.Tau
		}
	}
	switch o.Kind {
	case FedAvg:
		for i, g := range delta {
			x[i] += float32(d.LR * g)
		}
	case FedAvgM:
		for i, g := range delta {
			st.M[i] = d.Beta1*st.M[i] + g
			x[i] += float32(d.LR * st.M[i])
		}
	case FedAdam, FedYogi:
		for i, g := range delta {
			st.M[i] = d.Beta1*st.M[i] + (1-d.Beta1)*g
			g2 := g * g
			if o.Kind == FedAdam {
				st.V[i] = d.Beta2*st.V[i] + (1-d.Beta2)*g2
			} else {
				st.V[i] -= (1 - d.Beta2) * g2 * sign(st.V[i]-g2)
			}
			x[i] += float32(d.LR * st.M[i] / (math.Sqrt(st.V[i]) + d.Tau))
		}
	default:
		return o.Validate()
	}
	return nil
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
