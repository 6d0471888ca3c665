package accountant

import (
	"fmt"
	"math"
)

// Conversion selects how an RDP curve becomes an (ε, δ) guarantee.
type Conversion int

const (
	// Improved is Balle et al. 2020 ("Hypothesis testing interpretations and
	// Rényi differential privacy"), Thm. 21, as used by current libraries:
	// ε = r + log((α-1)/α) - (log δ + log α)/(α-1), together with the bound
	// δ ≤ √(1 - exp(-KL)) ≤ √(1 - exp(-r)) that gives ε = 0 for tiny r.
	Improved Conversion = iota
	// Classic is Mironov 2017 ("Rényi Differential Privacy"), Prop. 3:
	// ε = r + log(1/δ)/(α-1), as reported by older papers (e.g. Abadi et al.
	// 2016 through the moments accountant).
	Classic
)

// ParseConversion maps "improved" and "classic" to a Conversion.
func ParseConversion(s string) (Conversion, error) {
	switch s {
	case "improved", "":
		return Improved, nil
	case "classic":
		return Classic, nil
	}
	return 0, fmt.Errorf("accountant: unknown conversion %q (want improved or classic)", s)
}

func (c Conversion) String() string {
	if c == Classic {
		return "classic"
	}
	return "improved"
}

// minImprovedOrder is where the improved bound becomes numerically unstable
// (its log α/(α-1) term); below it only the KL bound is used.
const minImprovedOrder = 1.01

// EpsilonFromRDP returns the smallest ε over the orders for which the RDP
// curve implies (ε, δ)-DP, and the order achieving it. δ must be in (0, 1).
func EpsilonFromRDP(orders, rdp []float64, delta float64, conv Conversion) (eps, order float64, err error) {
	if len(orders) != len(rdp) || len(orders) == 0 {
		return 0, 0, fmt.Errorf("accountant: %d orders for %d RDP values", len(orders), len(rdp))
	}
	if !(delta > 0 && delta < 1) {
		return 0, 0, fmt.Errorf("accountant: delta %v outside (0, 1)", delta)
	}
	logDelta := math.Log(delta)
	best, bestOrder := math.Inf(1), orders[0]
	for i, a := range orders {
		r := rdp[i]
		if !(a > 1) {
			return 0, 0, fmt.Errorf("accountant: Rényi order %v must exceed 1", a)
		}
		if r < 0 {
			return 0, 0, fmt.Errorf("accountant: negative RDP %v at order %v", r, a)
		}
		var e float64
		switch {
		case math.IsInf(r, 1) || math.IsNaN(r):
			e = math.Inf(1)
		case math.IsInf(a, 1):
			e = r
		case conv == Classic:
			e = r - logDelta/(a-1)
		case delta*delta+math.Expm1(-r) > 0:
			e = 0
		case a > minImprovedOrder:
			e = r + math.Log1p(-1/a) - (logDelta+math.Log(a))/(a-1)
		default:
			e = math.Inf(1)
		}
		if e < best {
			best, bestOrder = e, a
		}
	}
	return max(best, 0), bestOrder, nil
}

// DeltaFromRDP returns the smallest δ over the orders for which the RDP curve
// implies (ε, δ)-DP, and the order achieving it.
func DeltaFromRDP(orders, rdp []float64, eps float64, conv Conversion) (delta, order float64, err error) {
	if len(orders) != len(rdp) || len(orders) == 0 {
		return 0, 0, fmt.Errorf("accountant: %d orders for %d RDP values", len(orders), len(rdp))
	}
	if !(eps >= 0) {
		return 0, 0, fmt.Errorf("accountant: epsilon %v must be ≥ 0", eps)
	}
	best, bestOrder := math.Inf(1), orders[0]
	for i, a := range orders {
		r := rdp[i]
		if !(a > 1) {
			return 0, 0, fmt.Errorf("accountant: Rényi order %v must exceed 1", a)
		}
		if r < 0 {
			return 0, 0, fmt.Errorf("accountant: negative RDP %v at order %v", r, a)
		}
		var ld float64 // log δ
		switch {
		case math.IsInf(r, 1) || math.IsNaN(r):
			ld = 0
		case math.IsInf(a, 1):
			if r <= eps {
				ld = math.Inf(-1)
			}
		case conv == Classic:
			ld = (a - 1) * (r - eps)
		default:
			// Canonne, Kamath, Steinke 2020, Prop. 12, and the KL bound.
			ld = math.Inf(-1)
			if r > 0 {
				ld = 0.5 * math.Log1p(-math.Exp(-r))
			}
			if a > minImprovedOrder {
				ld = min(ld, (a-1)*(r-eps+math.Log1p(-1/a))-math.Log(a))
			}
		}
		if ld < best {
			best, bestOrder = ld, a
		}
	}
	return min(math.Exp(best), 1), bestOrder, nil
}
