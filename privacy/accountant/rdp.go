package accountant

import (
	"fmt"
	"math"
	"slices"
)

// DefaultOrders returns the Rényi orders of Google's dp_accounting
// RdpAccountant: 1.1 to 10.9 in steps of 0.1, the integers 11 to 63, and 128,
// 256, 512, 1024 (156 orders).
func DefaultOrders() []float64 {
	o := make([]float64, 0, 156)
	for x := 1; x < 100; x++ {
		o = append(o, 1+float64(x)/10)
	}
	for x := 11; x < 64; x++ {
		o = append(o, float64(x))
	}
	return append(o, 128, 256, 512, 1024)
}

// RDP accumulates the RDP curve of a sequence of events over fixed orders.
// It is not safe for concurrent use.
type RDP struct {
	orders []float64
	rdp    []float64
}

// NewRDP returns an empty accountant over the given orders (DefaultOrders
// when none are given). Every order must exceed 1; +Inf is allowed.
func NewRDP(orders []float64) (*RDP, error) {
	if len(orders) == 0 {
		orders = DefaultOrders()
	}
	for _, a := range orders {
		if !(a > 1) {
			return nil, fmt.Errorf("accountant: Rényi order %v must exceed 1", a)
		}
	}
	return &RDP{orders: slices.Clone(orders), rdp: make([]float64, len(orders))}, nil
}

// Compose adds count runs of e. On error the accountant is unchanged.
func (a *RDP) Compose(e Event, count int) error {
	if count < 0 {
		return fmt.Errorf("accountant: negative composition count %d", count)
	}
	one := make([]float64, len(a.orders))
	if err := e.AddRDP(a.orders, one); err != nil {
		return err
	}
	for i, v := range one {
		if v != 0 && count != 0 {
			a.rdp[i] += float64(count) * v
		}
	}
	return nil
}

// Orders returns the accountant's orders (a copy).
func (a *RDP) Orders() []float64 { return slices.Clone(a.orders) }

// Values returns the accumulated RDP at each order (a copy).
func (a *RDP) Values() []float64 { return slices.Clone(a.rdp) }

// Epsilon returns the ε for which the composed events are (ε, δ)-DP, and the
// order achieving it.
func (a *RDP) Epsilon(delta float64, conv Conversion) (eps, order float64, err error) {
	return EpsilonFromRDP(a.orders, a.rdp, delta, conv)
}

// Delta returns the δ for which the composed events are (ε, δ)-DP, and the
// order achieving it.
func (a *RDP) Delta(eps float64, conv Conversion) (delta, order float64, err error) {
	return DeltaFromRDP(a.orders, a.rdp, eps, conv)
}

// SampledGaussianEpsilon is the ε of steps runs of the Poisson-subsampled
// Gaussian mechanism under the RDP accountant, and the optimal order.
func SampledGaussianEpsilon(q, sigma float64, steps int, delta float64, orders []float64, conv Conversion) (eps, order float64, err error) {
	acc, err := NewRDP(orders)
	if err != nil {
		return 0, 0, err
	}
	if err := acc.Compose(SampledGaussian{Q: q, NoiseMultiplier: sigma}, steps); err != nil {
		return 0, 0, err
	}
	return acc.Epsilon(delta, conv)
}

// AdaptiveClippingSplit returns the noise multiplier left for the clipped sum
// when adaptive clipping (Andrew et al. 2021, "Differentially Private
// Learning with Adaptive Clipping", §3) spends part of a round's budget on
// the noisy count of unclipped clients. The count's summands are
// b_i - 1/2 ∈ {-1/2, 1/2} (sensitivity 1/2) noised with standard deviation
// countStddev, i.e. noise multiplier 2·countStddev; two Gaussian releases
// with multipliers z_Δ and z_b compose to one with z^-2 = z_Δ^-2 + z_b^-2, so
//
//	z_Δ = (z^-2 - (2·countStddev)^-2)^(-1/2).
//
// It fails when the count alone would exceed the total budget.
func AdaptiveClippingSplit(total, countStddev float64) (float64, error) {
	if !(total > 0) || !(countStddev > 0) {
		return 0, fmt.Errorf("accountant: adaptive clipping needs positive noise (total %v, count stddev %v)", total, countStddev)
	}
	zb := 2 * countStddev
	inv := 1/(total*total) - 1/(zb*zb)
	if !(inv > 0) {
		return 0, fmt.Errorf("accountant: clipped-count noise multiplier %v leaves no budget within total %v", zb, total)
	}
	return 1 / math.Sqrt(inv), nil
}
