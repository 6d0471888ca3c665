package fl

import (
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/secagg"
)

// Distributed DP (Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian
// Mechanism for Federated Learning with Secure Aggregation", ICML 2021).
// Instead of the coordinator adding N(0, (z·C)²) to the unmasked sum, every
// device adds discrete Gaussian noise N_Z(0, σ²) to its fixed-point encoded
// update before masking, so the sum secure aggregation reveals is already
// noised and no party ever sees it without noise.
//
// Sensitivity. A device's encoded update is its clipped update (L2 norm ≤ C)
// scaled by s and rounded to the nearest integer, so its L2 norm is at most
// Δ = C·s + √d/2 (each coordinate moves by at most ½ unit).
//
// Noise. Each device adds σ = z·Δ/√m per coordinate, m the task's minimum
// reports: a committed round sums m' ≥ m noised updates, whose noise has
// variance m'σ² ≥ (z·Δ)².
//
// Accounting. The sum of m' independent N_Z(0, σ²) is not exactly a discrete
// Gaussian; Kairouz et al. bound the gap (their Theorem 1): the mechanism is
// ½ε²-concentrated DP with
//
//	ε = min( √(Δ²/(m'σ²) + ½·τ·d),  Δ/(√m'·σ) + τ·√d ),
//	τ = 10 · Σ_{k=1}^{m'−1} exp(−2π²σ²·k/(k+1)).
//
// ½ε²-zCDP is the Rényi DP of a Gaussian mechanism of multiplier 1/ε at every
// order, so a round is recorded in the ledger as a sampled Gaussian of
// multiplier z_eff = 1/ε with the task's q — as Kairouz et al. (§5) account
// their experiments with Poisson subsampling; the amplification bound is the
// one proved for the continuous Gaussian, applied to a mechanism whose RDP
// is bounded by it. For the σ used here (hundreds of units) τ underflows to
// 0 and z_eff = z; rounds with τ·d > 10⁻⁹ are refused.

// distributedZ is the noise multiplier secaggParams leaves room for.
func (t Task) distributedZ() float64 {
	if !t.DistributedDP {
		return 0
	}
	return t.Plan.NoiseMultiplier
}

// validateDistributed checks a task with distributed DP.
func (t Task) validateDistributed() error {
	switch {
	case !t.DistributedDP:
		return nil
	case !t.SecureAggregation:
		return errors.New("distributed DP needs secure aggregation")
	case !(t.Plan.NoiseMultiplier > 0):
		return errors.New("distributed DP needs a positive noise multiplier")
	case t.AdaptiveClip != nil:
		return errors.New("distributed DP does not support adaptive clipping yet")
	}
	return nil
}

// distributedNoise returns the per-device discrete Gaussian σ (fixed-point
// units of p.Encoding) for noise multiplier z over at least m reports with
// clip norm clip, and the effective multiplier the ledger records (m
// reports; more only shrink ε).
func distributedNoise(p secagg.Params, clip, z float64, m int) (sigma, zEff float64, err error) {
	d := float64(p.Dim)
	delta := clip*p.Encoding.Scale + math.Sqrt(d)/2
	sigma = z * delta / math.Sqrt(float64(m))
	if !(sigma >= 1) {
		return 0, 0, fmt.Errorf("fl: distributed DP: per-device σ = %.3g units is below 1; raise the encoding scale", sigma)
	}
	var tau float64
	for k := 1; k < m; k++ {
		tau += math.Exp(-2 * math.Pi * math.Pi * sigma * sigma * float64(k) / float64(k+1))
	}
	tau *= 10
	if tau*d > 1e-9 {
		return 0, 0, fmt.Errorf("fl: distributed DP: τ·d = %.3g is not negligible (σ = %.3g units)", tau*d, sigma)
	}
	nσ := math.Sqrt(float64(m)) * sigma
	eps := math.Min(math.Sqrt(delta*delta/(nσ*nσ)+0.5*tau*d), delta/nσ+tau*math.Sqrt(d))
	return sigma, 1 / eps, nil
}
