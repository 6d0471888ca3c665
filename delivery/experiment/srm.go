package experiment

import (
	"fmt"
	"math"
)

// SRMAlertP is the p-value below which a sample-ratio mismatch is
// reported: with 0.001, one experiment in a thousand alarms by chance.
const SRMAlertP = 0.001

// SRMResult is a χ² goodness-of-fit test of observed arm sizes against
// the configured split.
type SRMResult struct {
	Chi2   float64 `json:"chi2"`
	DF     int     `json:"df"`
	PValue float64 `json:"p_value"`
	// Alert is PValue < SRMAlertP: the split is broken (assignment,
	// exposure logging or data loss), and the results are not to be
	// trusted until it is explained.
	Alert bool `json:"alert"`
}

// SRM tests counts (units per arm) against weights (nil: equal). Weights
// need not sum to one but must be positive. χ² = Σ (o − e)²/e with
// e = w/Σw · Σo, on k − 1 degrees of freedom (gbstats check_srm).
func SRM(counts, weights []float64) (SRMResult, error) {
	k := len(counts)
	if k < 2 {
		return SRMResult{}, fmt.Errorf("%w: SRM needs at least two arms, got %d", ErrInvalid, k)
	}
	if weights == nil {
		weights = make([]float64, k)
		for i := range weights {
			weights[i] = 1
		}
	}
	if len(weights) != k {
		return SRMResult{}, fmt.Errorf("%w: %d counts but %d weights", ErrInvalid, k, len(weights))
	}
	var total, wsum float64
	for i := range k {
		if !(counts[i] >= 0) || math.IsInf(counts[i], 0) {
			return SRMResult{}, fmt.Errorf("%w: count %g", ErrInvalid, counts[i])
		}
		if !(weights[i] > 0) || math.IsInf(weights[i], 0) {
			return SRMResult{}, fmt.Errorf("%w: weight %g must be positive", ErrInvalid, weights[i])
		}
		total += counts[i]
		wsum += weights[i]
	}
	r := SRMResult{DF: k - 1, PValue: 1}
	if total == 0 {
		return r, nil
	}
	for i := range k {
		e := weights[i] / wsum * total
		d := counts[i] - e
		r.Chi2 += d * d / e
	}
	r.PValue = ChiSquareSF(r.Chi2, float64(k-1))
	r.Alert = r.PValue < SRMAlertP
	return r, nil
}
