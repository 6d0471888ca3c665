package fl

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/privacy/accountant"
)

// AdaptiveClip makes the clip norm track a quantile of the clients' update
// norms (Andrew et al., "Differentially Private Learning with Adaptive
// Clipping", NeurIPS 2021, Algorithm 1 with the geometric update): each
// device also reports b − ½ (b = 1 when its update was not clipped); the
// coordinator estimates the unclipped fraction
//
//	b̄ = (Σ(b_i − ½) + N(0, σ_b²)) / m + ½        (m the fixed denominator)
//
// and sets C ← C·exp(−η_C·(b̄ − γ)). With noise (z > 0) the round's budget is
// split: the update sum gets z_Δ = (z⁻² − (2σ_b)⁻²)^(−½) (their §3;
// accountant.AdaptiveClippingSplit), so the round as a whole is still a
// Gaussian mechanism of multiplier z and is accounted as one.
type AdaptiveClip struct {
	// TargetQuantile γ ∈ (0, 1): the fraction of updates left unclipped.
	TargetQuantile float64 `json:"target_quantile"`
	// LR is η_C (the paper suggests 0.2).
	LR float64 `json:"lr"`
	// CountStddev is σ_b, the noise on the count (the paper suggests m/20);
	// required with noise.
	CountStddev float64 `json:"count_stddev"`
}

// Validate checks the settings for a task with noise multiplier z.
func (a AdaptiveClip) Validate(z float64) error {
	if !(a.TargetQuantile > 0 && a.TargetQuantile < 1) || !(a.LR > 0) || math.IsInf(a.LR, 0) ||
		a.CountStddev < 0 || math.IsNaN(a.CountStddev) || math.IsInf(a.CountStddev, 0) {
		return fmt.Errorf("fl: adaptive clipping %+v: need γ ∈ (0, 1), η_C > 0, σ_b ≥ 0", a)
	}
	if z > 0 {
		if a.CountStddev == 0 {
			return fmt.Errorf("fl: adaptive clipping with noise needs a positive count noise σ_b")
		}
		if _, err := accountant.AdaptiveClippingSplit(z, a.CountStddev); err != nil {
			return fmt.Errorf("fl: adaptive clipping: %w", err)
		}
	}
	return nil
}

// next returns the clip norm after a round whose unclipped fraction was
// estimated as frac.
func (a AdaptiveClip) next(c, frac float64) float64 {
	return c * math.Exp(-a.LR*(frac-a.TargetQuantile))
}
