package accountant

import (
	"fmt"
	"math"
)

// Kind selects an accountant.
type Kind int

const (
	// KindRDP is the Rényi-DP accountant.
	KindRDP Kind = iota
	// KindPLD is the privacy-loss-distribution accountant.
	KindPLD
)

// ParseKind maps "rdp" and "pld" to a Kind.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "rdp", "":
		return KindRDP, nil
	case "pld":
		return KindPLD, nil
	}
	return 0, fmt.Errorf("accountant: unknown accountant %q (want rdp or pld)", s)
}

func (k Kind) String() string {
	if k == KindPLD {
		return "pld"
	}
	return "rdp"
}

// DPSGD describes steps runs of the Poisson-subsampled Gaussian mechanism, the
// privacy cost of DP-SGD and DP-FedAvg.
type DPSGD struct {
	Q     float64
	Steps int
	Delta float64
	// Accountant and Conversion (RDP only) select the analysis; Orders
	// (RDP only) default to DefaultOrders.
	Accountant Kind
	Conversion Conversion
	Orders     []float64
	// DiscretizationInterval is the PLD's loss grid (default 1e-4).
	DiscretizationInterval float64
}

// Epsilon returns ε for noise multiplier sigma, and for RDP the optimal order
// (0 for PLD).
func (d DPSGD) Epsilon(sigma float64) (eps, order float64, err error) {
	switch d.Accountant {
	case KindRDP:
		return SampledGaussianEpsilon(d.Q, sigma, d.Steps, d.Delta, d.Orders, d.Conversion)
	case KindPLD:
		eps, err := PLDSampledGaussianEpsilon(d.Q, sigma, d.Steps, d.Delta, d.DiscretizationInterval)
		return eps, 0, err
	}
	return 0, 0, fmt.Errorf("accountant: unknown accountant %d", d.Accountant)
}

// maxNoiseMultiplier bounds the search: beyond it the target is treated as
// unreachable.
const maxNoiseMultiplier = 1e6

// NoiseMultiplier returns the smallest noise multiplier σ (to a relative
// precision of 1e-6 for RDP, 1e-4 for PLD) with ε(σ) ≤ target, by bisection;
// ε is non-increasing in σ. The returned σ always satisfies the target.
func (d DPSGD) NoiseMultiplier(target float64) (float64, error) {
	if !(target > 0) {
		return 0, fmt.Errorf("accountant: target epsilon %v must be positive", target)
	}
	eps := func(s float64) (float64, error) {
		e, _, err := d.Epsilon(s)
		return e, err
	}
	e0, err := eps(maxNoiseMultiplier)
	if err != nil {
		return 0, err
	}
	if e0 > target {
		return 0, fmt.Errorf("accountant: ε %v > target %v even at noise multiplier %v", e0, target, maxNoiseMultiplier)
	}
	if e, err := eps(0); err == nil && e <= target {
		return 0, nil // e.g. q = 0 or no steps
	}
	// Bracket [lo, hi] with ε(lo) > target ≥ ε(hi).
	hi := 1.0
	for {
		e, err := eps(hi)
		if err != nil {
			return 0, err
		}
		if e <= target {
			break
		}
		hi *= 2
	}
	lo := hi / 2
	for {
		e, err := eps(lo)
		if err != nil {
			return 0, err
		}
		if e > target {
			break
		}
		hi = lo
		lo /= 2
		if lo < 1e-6 {
			return hi, nil
		}
	}
	rel := 1e-6
	if d.Accountant == KindPLD {
		rel = 1e-4
	}
	for hi-lo > rel*hi {
		mid := (lo + hi) / 2
		e, err := eps(mid)
		if err != nil {
			return 0, err
		}
		if e <= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	if math.IsNaN(hi) {
		return 0, fmt.Errorf("accountant: calibration diverged")
	}
	return hi, nil
}
