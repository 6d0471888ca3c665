package health

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/privacy/aggregate"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// Per-device gate metrics: a proportion metric with the device as the unit
// and its pre-rollout rate as a covariate (see the package documentation,
// "Per-device gates"). Gates on them use experiment.MetricMean.
const (
	MetricAcc1Device            = "acc1_device"
	MetricInferenceErrorsDevice = "inference_errors_device"
)

// unitOf maps a per-device metric to the proportion metric it is built on.
var unitOf = map[string]string{
	MetricAcc1Device:            MetricAcc1,
	MetricInferenceErrorsDevice: MetricInferenceErrors,
}

// Shares of a per-device release's ε: the unit count, Σz and Σz². The
// adjusted values z sit near zero, so the count's noise barely moves the
// mean (it enters as z̄·noise/n) and most of the budget goes to the sums.
const (
	unitShareN = 0.1
	unitShareS = 0.5
	unitShareQ = 0.4
)

// pk is a device's (events, outcomes) of one proportion metric, and when
// its totals began (a restart after retention is not a difference).
type pk struct {
	n, k  int64
	first time.Time
}

// baseline is a rollout's pre-period, taken when it started: each
// device's (events, outcomes) of every proportion metric on the current
// version, or over all the model's versions when it had none on it, and
// the per-version totals then (the first release's deltas count from
// them).
type baseline struct {
	model, cur, cand string
	at               time.Time
	pre              map[string]*[numProp][2]int64
	start            map[string]map[string][numProp]pk
}

// unitDay is one arm's release of one period: the noisy unit count, Σz
// and Σz², and their noise variances.
type unitDay struct {
	n, s, q    float64
	vn, vs, vq float64
}

// unitStream is one (rollout, per-device metric)'s releases.
type unitStream struct {
	model, cur, cand string
	idx              int // the proportion metric's index in propMetrics
	base             *baseline
	// prev[j][device] is the device's count of arm j's version at the
	// last release; last is when that was (the start before the first).
	prev [2]map[string]pk
	last time.Time
	days [2][]unitDay
	arms rollout.Arms
}

// StartRollout takes rollout st's baseline: every device's rates so far,
// the pre-period covariate of the per-device gate metrics. Wire it as the
// controller's rollout.Options.OnStart. It releases nothing and costs no
// privacy budget; the baseline is kept in memory for at most the health
// streams' retention.
func (a *Aggregator) StartRollout(st rollout.Status) {
	b := &baseline{model: st.Spec.Model, cur: st.Spec.Current, cand: st.Spec.Version, at: a.cfg.Clock.Now(),
		pre: map[string]*[numProp][2]int64{}, start: map[string]map[string][numProp]pk{}}
	a.mu.Lock()
	defer a.mu.Unlock()
	versions := a.parts[b.model]
	for v, devs := range versions {
		for d, t := range devs {
			p := b.pre[d]
			if p == nil {
				p = new([numProp][2]int64)
				b.pre[d] = p
			}
			if v == b.cur {
				continue
			}
			for i := range numProp {
				n, k := events(t, propMetrics[i])
				p[i][0], p[i][1] = p[i][0]+n, p[i][1]+k
			}
		}
	}
	// The current version's own rate replaces the mix where it has one.
	for d, t := range versions[b.cur] {
		for i := range numProp {
			if n, k := events(t, propMetrics[i]); n > 0 {
				b.pre[d][i] = [2]int64{n, k}
			}
		}
	}
	for _, v := range []string{b.cur, b.cand} {
		m := make(map[string][numProp]pk, len(versions[v]))
		for d, t := range versions[v] {
			var c [numProp]pk
			for i := range numProp {
				n, k := events(t, propMetrics[i])
				c[i] = pk{n: n, k: k, first: t.first}
			}
			m[d] = c
		}
		b.start[v] = m
	}
	a.baselines[st.Spec.ID] = b
}

// unitArms is Arms for a per-device metric: the sum of the arms' releases
// of each UnitPeriod so far, making a new one when a period has passed
// since the last (each charged the stream's ε).
func (a *Aggregator) unitArms(ctx context.Context, id, metric string, st rollout.Status, sc *telemetry.Schema) (rollout.Arms, error) {
	idx := propIndex(unitOf[metric])
	now := a.cfg.Clock.Now()
	key := [2]string{id, metric}
	a.mu.Lock()
	s := a.units[key]
	if s != nil && (s.model != st.Spec.Model || s.cur != st.Spec.Current || s.cand != st.Spec.Version) {
		s = nil // the rollout's versions changed: start over
	}
	if s == nil {
		s = &unitStream{model: st.Spec.Model, cur: st.Spec.Current, cand: st.Spec.Version, idx: idx}
		if b := a.baselines[id]; b != nil && b.model == s.model && b.cur == s.cur && b.cand == s.cand {
			s.base, s.last = b, b.at
			for j, v := range []string{s.cur, s.cand} {
				s.prev[j] = map[string]pk{}
				for d, c := range b.start[v] {
					s.prev[j][d] = c[idx]
				}
			}
		} else {
			// No baseline (the aggregator restarted, or nothing calls
			// StartRollout): every device's whole totals count, without
			// a covariate, from the first look on.
			s.last = now.Add(-a.cfg.UnitPeriod)
		}
		a.units[key] = s
	}
	if now.Sub(s.last) < a.cfg.UnitPeriod {
		arms := s.arms
		a.mu.Unlock()
		return arms, nil
	}
	if err := a.cfg.Ledger.Spend(sc.Name, now, sc.Epsilon, sc.DailyBudget); err != nil {
		arms := s.arms
		a.mu.Unlock()
		// The period's data waits for the next release (prev is kept).
		return arms, fmt.Errorf("health: %s: %w", metric, err)
	}
	zs := a.unitValuesLocked(s)
	s.last = now
	a.mu.Unlock()

	var rel [2]unitDay
	for j := range zs {
		var err error
		if rel[j], err = a.releaseUnits(zs[j], sc.Epsilon); err != nil {
			return rollout.Arms{}, fmt.Errorf("health: release %s: %w", metric, err)
		}
	}
	a.mu.Lock()
	for j := range rel {
		s.days[j] = append(s.days[j], rel[j])
	}
	s.arms = rollout.Arms{Current: unitSummary(s.days[0]), Candidate: unitSummary(s.days[1])}
	arms := s.arms
	a.mu.Unlock()
	a.checkDrift(ctx, id)
	return arms, nil
}

// unitValuesLocked returns each arm's adjusted values z = y − x over the
// period since s.last, and moves s.prev on: y is a device's rate over
// the events it reported in the period on the arm's version, x its
// baseline rate (z = y for a device without one). A device counts in the
// arm of the version it reported most recently (a tie goes to the
// candidate), and not at all without events in the period. a.mu is held.
func (a *Aggregator) unitValuesLocked(s *unitStream) [2][]float64 {
	type delta struct {
		n, k int64
		last time.Time
	}
	var ds [2]map[string]delta
	for j, v := range []string{s.cur, s.cand} {
		ds[j] = map[string]delta{}
		next := map[string]pk{}
		for d, t := range a.parts[s.model][v] {
			n, k := events(t, propMetrics[s.idx])
			next[d] = pk{n: n, k: k, first: t.first}
			if p, ok := s.prev[j][d]; ok && p.first.Equal(t.first) {
				n, k = n-p.n, k-p.k
			}
			if n > 0 {
				ds[j][d] = delta{n: n, k: max(k, 0), last: t.last}
			}
		}
		s.prev[j] = next
	}
	var out [2][]float64
	for j := range ds {
		for d, dl := range ds[j] {
			if o, both := ds[1-j][d]; both {
				curWins := dl.last.After(o.last)
				if j == 1 {
					curWins = o.last.After(dl.last)
				}
				if curWins != (j == 0) {
					continue // the other arm's version was reported later (a tie goes to the candidate)
				}
			}
			y := math.Min(float64(dl.k)/float64(dl.n), 1)
			z := y
			if s.base != nil {
				if p := s.base.pre[d]; p != nil && p[s.idx][0] > 0 {
					z = y - float64(p[s.idx][1])/float64(p[s.idx][0])
				}
			}
			out[j] = append(out[j], z)
		}
	}
	return out
}

// releaseUnits releases an arm's unit count, Σz and Σz² (z ∈ [−1, 1]):
// one device changes each by at most 1, and the three share ε (unitShare*).
func (a *Aggregator) releaseUnits(zs []float64, eps float64) (unitDay, error) {
	var n, s, q float64
	for _, z := range zs {
		z = math.Min(math.Max(z, -1), 1)
		n, s, q = n+1, s+z, q+z*z
	}
	var out unitDay
	for _, r := range []struct {
		x, share float64
		v, nv    *float64
	}{{n, unitShareN, &out.n, &out.vn}, {s, unitShareS, &out.s, &out.vs}, {q, unitShareQ, &out.q, &out.vq}} {
		m := aggregate.Mechanism{Noise: a.cfg.Noise, Epsilon: eps * r.share, Delta: a.cfg.Delta / 3, L0: 1, LInf: 1}
		v, err := m.AddFloat64(r.x)
		if err != nil {
			return unitDay{}, err
		}
		*r.v, *r.nv = v, m.Variance()
	}
	return out, nil
}

// unitSummary combines an arm's period releases into a mean metric's
// Summary of the per-device adjusted values:
//
//   - the mean is z̄ = Σ_d S_d / Σ_d n_d over the D periods, a mean over
//     device-periods;
//   - its sampling variance is bounded by D·Σ_d n_d·v_d/(Σ_d n_d)², v_d
//     the period's sample variance: the periods' sums S_d share devices,
//     so they may be correlated up to perfectly, and by Cauchy–Schwarz
//     Var(Σ S_d) ≤ (Σ sd(S_d))² ≤ D·Σ Var(S_d) whatever the correlation
//     (exact when every device repeats itself);
//   - the DP noise of the periods is independent, so its variance,
//     (Σ V_S + z̄²·Σ V_n)/(Σ n_d)², falls as 1/D;
//   - N is the mean units per period (the devices, not device-periods:
//     the sequential interval must not count a device twice), and
//     SumSquares makes Variance()/N the sampling variance above.
func unitSummary(days []unitDay) experiment.Summary {
	var npd, sum, nv, vs, vn float64
	var d, dv int
	for _, x := range days {
		n := math.Round(x.n)
		if n < 1 {
			continue
		}
		d++
		npd, sum, vs, vn = npd+n, sum+x.s, vs+x.vs, vn+x.vn
		if n >= 2 {
			v := (x.q - x.s*x.s/n) / (n - 1)
			nv += n * math.Min(math.Max(v, 0), 1)
			dv++
		}
	}
	if d == 0 {
		return experiment.Summary{}
	}
	units := math.Round(npd / float64(d))
	if units < 2 {
		return experiment.Summary{N: units}
	}
	mean := math.Min(math.Max(sum/npd, -1), 1)
	perUnit := units * float64(dv) * nv / (npd * npd)
	return experiment.Summary{N: units, Sum: mean * units, SumSquares: perUnit*(units-1) + mean*mean*units,
		NoiseVariance: (vs + mean*mean*vn) / (npd * npd)}
}
