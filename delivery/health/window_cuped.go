package health

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/privacy/aggregate"
)

// Shares of a window CUPED release's ε: the unit count, Σy (the raw
// means, for display only), Σz and Σz². As the gates' releases (unit.go):
// z sits near zero, so the count's noise barely moves the adjusted mean,
// and most of the budget goes to the adjusted sums the effect rests on.
const (
	cupedShareN = 0.1
	cupedShareY = 0.1
	cupedShareS = 0.45
	cupedShareQ = 0.35
)

// ErrNoBaseline is returned by WindowCUPEDArms for a rollout whose
// pre-period was never taken (nothing called StartRollout, or the
// aggregator restarted or dropped it after retention).
var ErrNoBaseline = errors.New("health: no pre-rollout baseline for the rollout")

// CUPEDArm is one arm of a window CUPED release.
type CUPEDArm struct {
	// Raw is the arm's mean of the phones' rates within the window, y:
	// N and Sum only (no variance is released; it is for display).
	Raw experiment.Summary
	// Adjusted is the arm's mean metric of z = y − x, x the phone's
	// pre-rollout rate: N, Sum, SumSquares and the DP noise's variance
	// on the mean, for experiment.Analyze with MetricMean.
	Adjusted experiment.Summary
}

// CUPEDArms are the two arms of a window CUPED release.
type CUPEDArms struct {
	Current, Candidate CUPEDArm
}

// WindowCUPEDArms is WindowUnitArms with the pre-period as a covariate:
// each device in an arm contributes z = y − x, y its rate of proportion
// metric within window w (as WindowUnitArms counts it: the version it
// reported most recently in the window decides its arm), x its rate in
// rollout id's baseline (StartRollout; z = y for a device without one).
// This is CUPED (Deng, Xu, Kohavi, Walker, WSDM 2013) with θ fixed at 1,
// as the per-device gates (unit.go, docs/rollouts.md): unbiased for the
// effect under randomization for any θ fixed in advance, and it needs
// three noisy sums per arm where an estimated θ needs six.
//
// One release, charged the stream's ε (as WindowUnitArms): n, Σy, Σz, Σz²
// per arm share it (cupedShare*); one device changes each by at most 1
// and is in one arm. The adjusted variance adds one noise standard
// deviation of the released variance to it, so a release whose noise
// pulls Σz² down does not narrow the interval below what the data
// support (z's spread is small next to Σz²'s noise at hundreds of
// phones).
func (a *Aggregator) WindowCUPEDArms(_ context.Context, w *Window, id, metric, current, candidate string) (CUPEDArms, error) {
	idx := propIndex(metric)
	if idx < 0 {
		return CUPEDArms{}, fmt.Errorf("health: %q is not a proportion metric", metric)
	}
	stream, ok := metricStream[metric]
	if !ok {
		return CUPEDArms{}, fmt.Errorf("%w: %q", ErrUnknownMetric, metric)
	}
	for _, v := range []string{current, candidate} {
		if _, ok := w.base[v]; !ok {
			return CUPEDArms{}, fmt.Errorf("health: window on %s opened without version %q", w.model, v)
		}
	}
	sc, err := a.cfg.Registry.Lookup(stream)
	if err != nil {
		return CUPEDArms{}, err
	}
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	b := a.baselines[id]
	if b == nil || b.model != w.model || b.cur != current || b.cand != candidate {
		a.mu.Unlock()
		return CUPEDArms{}, fmt.Errorf("%w %q", ErrNoBaseline, id)
	}
	if err := a.cfg.Ledger.Spend(stream, now, sc.Epsilon, sc.DailyBudget); err != nil {
		a.mu.Unlock()
		return CUPEDArms{}, fmt.Errorf("health: %s: %w", metric, err)
	}
	cur, cand := a.windowArmsLocked(w, current, candidate)
	var ys, zs [2][]float64
	for i, devs := range []map[string]*totals{cur, cand} {
		for d, t := range devs {
			n, k := events(t, metric)
			if n <= 0 {
				continue
			}
			y := math.Min(float64(max(k, 0))/float64(n), 1)
			z := y
			if p := b.pre[d]; p != nil && p[idx][0] > 0 {
				z = y - math.Min(float64(p[idx][1])/float64(p[idx][0]), 1)
			}
			ys[i], zs[i] = append(ys[i], y), append(zs[i], z)
		}
	}
	a.mu.Unlock()
	var out [2]CUPEDArm
	for i := range out {
		if out[i], err = a.releaseCUPED(ys[i], zs[i], sc.Epsilon); err != nil {
			return CUPEDArms{}, fmt.Errorf("health: release %s: %w", metric, err)
		}
	}
	return CUPEDArms{Current: out[0], Candidate: out[1]}, nil
}

// releaseCUPED releases one arm's n, Σy (y ∈ [0, 1]), Σz and Σz²
// (z ∈ [−1, 1]), each of sensitivity 1, with the cupedShare* of ε.
func (a *Aggregator) releaseCUPED(ys, zs []float64, eps float64) (CUPEDArm, error) {
	var n, sy, sz, qz float64
	for i, z := range zs {
		z = math.Min(math.Max(z, -1), 1)
		n, sy, sz, qz = n+1, sy+math.Min(math.Max(ys[i], 0), 1), sz+z, qz+z*z
	}
	var r [4]aggregate.Estimate
	for i, x := range []struct{ v, share float64 }{{n, cupedShareN}, {sy, cupedShareY}, {sz, cupedShareS}, {qz, cupedShareQ}} {
		m := aggregate.Mechanism{Noise: a.cfg.Noise, Epsilon: eps * x.share, Delta: a.cfg.Delta / 4, L0: 1, LInf: 1}
		v, err := m.AddFloat64(x.v)
		if err != nil {
			return CUPEDArm{}, err
		}
		r[i] = aggregate.Estimate{Value: v, NoiseVariance: m.Variance()}
	}
	return cupedSummary(r[0], r[1], r[2], r[3]), nil
}

// cupedSummary turns an arm's noisy n, Σy, Σz and Σz² into its raw and
// adjusted summaries. The adjusted per-unit variance is the released one
// clamped to [0, 1] plus the noise sd of that estimate, √V(Σz²)/(n − 1).
func cupedSummary(en, ey, es, eq aggregate.Estimate) CUPEDArm {
	n := math.Max(math.Round(en.Value), 0)
	if n < 2 {
		return CUPEDArm{Raw: experiment.Summary{N: n}, Adjusted: experiment.Summary{N: n}}
	}
	raw := experiment.Summary{N: n, Sum: math.Min(math.Max(ey.Value, 0), n)}
	sum := math.Min(math.Max(es.Value, -n), n)
	mu := sum / n
	v := (eq.Value - sum*mu) / (n - 1)
	v = math.Min(math.Max(v, 0), 1) + math.Sqrt(eq.NoiseVariance)/(n-1)
	adj := experiment.Summary{N: n, Sum: sum, SumSquares: v*(n-1) + sum*mu,
		NoiseVariance: (es.NoiseVariance + mu*mu*en.NoiseVariance) / (n * n)}
	return CUPEDArm{Raw: raw, Adjusted: adj}
}
