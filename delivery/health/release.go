package health

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/aggregate"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// Gate metric names the aggregator answers, and their streams.
const (
	MetricLoadFailures      = "load_failures"
	MetricInferenceErrors   = "inference_errors"
	MetricLatencyP95        = "latency_p95"
	MetricMemory            = "memory"
	MetricCrashFreeSessions = "crash_free_sessions"
	MetricAcc1              = "acc1"
)

var metricStream = map[string]string{
	MetricLoadFailures:      dhealth.StreamLoads,
	MetricInferenceErrors:   dhealth.StreamInference,
	MetricLatencyP95:        dhealth.StreamLatency,
	MetricMemory:            dhealth.StreamMemory,
	MetricCrashFreeSessions: dhealth.StreamSessions,
	MetricAcc1:              dhealth.StreamQuality,

	MetricInferenceErrorsDevice: dhealth.StreamInference,
	MetricAcc1Device:            dhealth.StreamQuality,
}

// ErrUnknownMetric is returned by Arms for a metric no stream feeds.
var ErrUnknownMetric = errors.New("health: no health stream feeds this metric")

// Arms implements rollout.Source: a central-DP release of the metric's two
// arms (the rollout's current and candidate versions), or the last one
// while it is younger than MinInterval.
//
// Proportion metrics are counters released continually (see the package
// documentation): the first release of a (rollout, metric) on a UTC day
// starts that day's binary trees and charges their ε (TreeCost, the
// stream's declared ε for Laplace noise) to the stream's daily budget;
// the day's later releases cost nothing more. Mean metrics, and proportion
// metrics when Config.FreshReleases is set, make a fresh release charged
// the stream's ε each time. When the budget is spent Arms fails (the gate
// is then inconclusive, and the controller pauses the rollout if that
// lasts): stale evidence must not promote a later stage.
func (a *Aggregator) Arms(ctx context.Context, id, metric string) (rollout.Arms, error) {
	stream, ok := metricStream[metric]
	if !ok {
		return rollout.Arms{}, fmt.Errorf("%w: %q", ErrUnknownMetric, metric)
	}
	a.mu.Lock()
	ro := a.rollouts
	a.mu.Unlock()
	if ro == nil {
		return rollout.Arms{}, errors.New("health: aggregator not bound to a rollout controller")
	}
	st, err := ro.Status(id)
	if err != nil {
		return rollout.Arms{}, err
	}
	sc, err := a.cfg.Registry.Lookup(stream)
	if err != nil {
		return rollout.Arms{}, err
	}
	if _, ok := unitOf[metric]; ok {
		return a.unitArms(ctx, id, metric, st, sc)
	}
	if propIndex(metric) >= 0 && !a.cfg.FreshReleases {
		return a.continualArms(ctx, id, metric, st, sc)
	}
	now := a.cfg.Clock.Now()
	key := [2]string{id, metric}
	a.mu.Lock()
	if r, ok := a.releases[key]; ok && now.Sub(r.at) < a.cfg.MinInterval && now.Sub(r.at) >= 0 {
		a.mu.Unlock()
		return r.arms, nil
	}
	if err := a.cfg.Ledger.Spend(stream, now, sc.Epsilon, sc.DailyBudget); err != nil {
		a.mu.Unlock()
		return rollout.Arms{}, fmt.Errorf("health: %s: %w", metric, err)
	}
	// Copy the clamped per-device values under the lock (check-ins wait
	// for this only); add the noise after releasing it.
	cur, cand := a.armsLocked(st.Spec.Model, st.Spec.Current, st.Spec.Version)
	in := [2]armValues{a.gather(cur, metric), a.gather(cand, metric)}
	a.mu.Unlock()
	var arms rollout.Arms
	for i, v := range in {
		s, err := a.releaseArm(v, metric, sc.Epsilon)
		if err != nil {
			return rollout.Arms{}, fmt.Errorf("health: release %s: %w", metric, err)
		}
		if i == 0 {
			arms.Current = s
		} else {
			arms.Candidate = s
		}
	}
	a.mu.Lock()
	a.releases[key] = release{at: now, arms: arms}
	a.mu.Unlock()
	a.checkDrift(ctx, id)
	return arms, nil
}

// BudgetExhausted reports whether err is a spent daily budget.
func BudgetExhausted(err error) bool {
	var be *telemetry.BudgetExceededError
	return errors.As(err, &be)
}

// armOf is which partition each device counts in: the version it reported
// most recently when it has totals for both.
func (a *Aggregator) armsLocked(model, current, candidate string) (cur, cand map[string]*totals) {
	cur, cand = map[string]*totals{}, map[string]*totals{}
	cd := a.parts[model][candidate]
	for d, t := range a.parts[model][current] {
		if o, both := cd[d]; both && !t.last.After(o.last) {
			continue
		}
		cur[d] = t
	}
	for d, t := range cd {
		if _, in := cur[d]; !in {
			cand[d] = t
		}
	}
	return cur, cand
}

// armValues are one arm's clamped per-device values: events and outcomes
// for a proportion, values for a mean.
type armValues struct{ n, k, v []float64 }

// gather copies the clamped per-device values of metric from devs.
func (a *Aggregator) gather(devs map[string]*totals, metric string) armValues {
	var out armValues
	switch metric {
	case MetricLatencyP95, MetricMemory:
		for _, t := range devs {
			if v, ok := a.deviceValue(t, metric); ok {
				out.v = append(out.v, v)
			}
		}
		return out
	}
	capN := float64(a.cfg.MaxEvents)
	for _, t := range devs {
		n, k := events(t, metric)
		if n <= 0 {
			continue
		}
		fn, fk := float64(n), float64(k)
		if fn > capN {
			fk, fn = math.Round(fk*capN/fn), capN
		}
		out.n, out.k = append(out.n, fn), append(out.k, fk)
	}
	return out
}

// releaseArm releases one arm of metric with ε eps.
func (a *Aggregator) releaseArm(v armValues, metric string, eps float64) (experiment.Summary, error) {
	switch metric {
	case MetricLatencyP95:
		return a.releaseMean(v.v, a.cfg.MaxLatencyMs, eps)
	case MetricMemory:
		return a.releaseMean(v.v, a.cfg.MaxMemoryMB, eps)
	}
	return a.releaseProportion(v.n, v.k, eps)
}

// events returns a device's (events, outcomes) for a proportion metric,
// the outcome being the metric's numerator.
func events(t *totals, metric string) (n, k int64) {
	switch metric {
	case MetricLoadFailures:
		return t.loads, t.loadFailures
	case MetricInferenceErrors:
		return t.inferences, t.errors
	case MetricCrashFreeSessions:
		return t.sessions, t.sessions - t.crashes
	case MetricAcc1:
		return t.labeled, t.top1
	}
	return 0, 0
}

// noisySum releases Σ values (each clamped to [0, bound]) with ε through
// the library's Laplace or Gaussian mechanism: each device adds one value
// to one arm, so l0 = 1 and l∞ = bound (what aggregate.Sum computes for
// one contribution per unit, without its per-record bookkeeping).
func (a *Aggregator) noisySum(values []float64, bound, eps float64) (aggregate.Estimate, error) {
	sum := 0.0
	for _, v := range values {
		sum += min(max(v, 0), bound)
	}
	m := aggregate.Mechanism{Noise: a.cfg.Noise, Epsilon: eps, Delta: a.cfg.Delta, L0: 1, LInf: bound}
	v, err := m.AddFloat64(sum)
	if err != nil {
		return aggregate.Estimate{}, err
	}
	return aggregate.Estimate{Value: v, NoiseVariance: m.Variance()}, nil
}

// proportionArm gathers and releases one arm of a proportion metric.
func (a *Aggregator) proportionArm(devs map[string]*totals, metric string, eps float64) (experiment.Summary, error) {
	v := a.gather(devs, metric)
	return a.releaseProportion(v.n, v.k, eps)
}

// releaseProportion releases Σ events and Σ outcomes, each with ε/2. A
// device's events are capped at MaxEvents, its outcomes scaled by the same
// factor (its rate is kept).
func (a *Aggregator) releaseProportion(ns, ks []float64, eps float64) (experiment.Summary, error) {
	capN := float64(a.cfg.MaxEvents)
	en, err := a.noisySum(ns, capN, eps/2)
	if err != nil {
		return experiment.Summary{}, err
	}
	ek, err := a.noisySum(ks, capN, eps/2)
	if err != nil {
		return experiment.Summary{}, err
	}
	return proportionSummary(en, ek), nil
}

// deviceValue is a device's value of a mean metric and whether it has one.
func (a *Aggregator) deviceValue(t *totals, metric string) (float64, bool) {
	if metric == MetricMemory {
		return math.Min(float64(t.peakMB), a.cfg.MaxMemoryMB), t.peakMB > 0
	}
	return P95(t.latency[:], a.cfg.MaxLatencyMs)
}

// P95 is the 95th percentile of a latency histogram (bucket counts over
// device/health.LatencyBucketsMs), interpolated linearly within its
// bucket; the open last bucket spans up to max(2·last edge, limit) and the
// result is clamped to limit. ok is false for an empty histogram.
func P95(counts []int64, limit float64) (float64, bool) {
	var total int64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0, false
	}
	target := 0.95 * float64(total)
	edges := dhealth.LatencyBucketsMs
	var cum float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= target {
			lo := 0.0
			if i > 0 {
				lo = edges[i-1]
			}
			hi := math.Max(2*edges[len(edges)-1], limit)
			if i < len(edges) {
				hi = edges[i]
			}
			v := lo + (hi-lo)*(target-cum)/float64(c)
			return math.Min(v, limit), true
		}
		cum += float64(c)
	}
	return math.Min(edges[len(edges)-1], limit), true
}

// releaseMean releases the device count, Σ value and Σ value² of values
// in [0, limit], each with ε/3.
func (a *Aggregator) releaseMean(vs []float64, limit, eps float64) (experiment.Summary, error) {
	sq, ones := make([]float64, len(vs)), make([]float64, len(vs))
	for i, v := range vs {
		sq[i], ones[i] = v*v, 1
	}
	ec, err := a.noisySum(ones, 1, eps/3)
	if err != nil {
		return experiment.Summary{}, err
	}
	es, err := a.noisySum(vs, limit, eps/3)
	if err != nil {
		return experiment.Summary{}, err
	}
	eq, err := a.noisySum(sq, limit*limit, eps/3)
	if err != nil {
		return experiment.Summary{}, err
	}
	n := math.Max(math.Round(ec.Value), 0)
	if n < 2 {
		return experiment.Summary{N: n}, nil
	}
	sum := math.Min(math.Max(es.Value, 0), n*limit)
	mu := sum / n
	// Keep the implied sample variance within [0, limit²/4], the most a
	// variable in [0, limit] can have.
	v := (eq.Value - sum*mu) / (n - 1)
	v = math.Min(math.Max(v, 0), limit*limit/4)
	return experiment.Summary{N: n, Sum: sum, SumSquares: v*(n-1) + sum*mu,
		NoiseVariance: (es.NoiseVariance + mu*mu*ec.NoiseVariance) / (n * n)}, nil
}
