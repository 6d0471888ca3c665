package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/accountant"
	"github.com/sextant-ml/sextant/privacy/aggregate"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// The proportion metrics are counters: released continually.
var propMetrics = [...]string{MetricLoadFailures, MetricInferenceErrors, MetricCrashFreeSessions, MetricAcc1}

const numProp = len(propMetrics)

// propIndex is metric's index in propMetrics, or -1 for a mean metric.
func propIndex(metric string) int {
	for i, m := range propMetrics {
		if m == metric {
			return i
		}
	}
	return -1
}

// entryEvents returns an entry's (events, outcomes) for proportion metric
// i, the outcome being the metric's numerator.
func entryEvents(e *dhealth.Entry, i int) (n, k int64) {
	switch propMetrics[i] {
	case MetricLoadFailures:
		return e.Loads, e.LoadFailures
	case MetricInferenceErrors:
		return e.Inferences, e.InferenceErrors
	case MetricCrashFreeSessions:
		return e.Sessions, e.Sessions - e.Crashes
	}
	return e.Labeled, e.Top1
}

// dayCounts are one model's counted events on the UTC day being counted.
type dayCounts struct {
	// used[device][i] is how many of the device's metric-i events counted
	// today, over all the model's versions (at most MaxEvents).
	used map[string]*[numProp]int64
	// sums[version][i] are the counted events and outcomes.
	sums map[string]*[numProp][2]float64
}

// stream is one (rollout, metric)'s continual release: a tree per UTC day
// for each of its four counts — the events with and without the outcome,
// of the current and of the candidate version — and the final releases of
// the days before.
type stream struct {
	model, cur, cand string
	// day is the UTC day of counters; "" when today has no tree yet.
	day      string
	counters [4]*aggregate.Counter
	// last are today's latest releases, closed the sums of earlier days'
	// final ones (values and variances add: the days' noises are
	// independent).
	last, closed [4]aggregate.Estimate
	at           time.Time
	arms         rollout.Arms
	released     bool
	idx          int // the metric's index in propMetrics
}

// treeReleases is how many releases one day's tree is calibrated for: at
// most one per MinInterval (Arms reuses a younger release), plus the
// closing release at the day's end.
func (a *Aggregator) treeReleases() int { return int(24*time.Hour/a.cfg.MinInterval) + 2 }

// continual is the tree mechanism of a stream: the four counts share ε.
// Each counted event falls in exactly one of them (its version's "with
// the outcome" or "without" count), so a device's counted events — at
// most MaxEvents a day over the model's versions — change them by at most
// MaxEvents in total: the sensitivity is MaxEvents. (Releasing events and
// outcomes instead would double it.)
func (a *Aggregator) continual(sc *telemetry.Schema) aggregate.Continual {
	return aggregate.Continual{Noise: a.cfg.Noise, Epsilon: sc.Epsilon, Delta: a.cfg.Delta,
		Sensitivity: float64(a.cfg.MaxEvents), Releases: a.treeReleases()}
}

// TreeCost returns the ε one day's counter of a stream costs, by the
// accountant (accountant.HybridCounter): 2Δ/b for Laplace terms of scale b
// (the stream's declared ε), the RDP conversion at δ for Gaussian ones (a
// little more).
func (a *Aggregator) TreeCost(stream string) (float64, error) {
	sc, err := a.cfg.Registry.Lookup(stream)
	if err != nil {
		return 0, err
	}
	return treeCost(a.continual(sc))
}

func treeCost(c aggregate.Continual) (float64, error) {
	term, err := c.Term()
	if err != nil {
		return 0, err
	}
	h := accountant.HybridCounter{Releases: c.Releases}
	if c.Noise == aggregate.Gaussian {
		h.NoiseMultiplier = term.Sigma() / c.Sensitivity
	} else {
		h.LaplaceScale = aggregate.LaplaceScale(term.L0, term.LInf, term.Epsilon) / c.Sensitivity
	}
	return h.Epsilon(c.Delta)
}

// countLocked adds an entry's events to today's counts of its model: each
// device's first MaxEvents events of each metric a day, over all versions,
// with their outcomes (scaled down alike for the report that crosses the
// cap). a.mu is held.
func (a *Aggregator) countLocked(device string, e *dhealth.Entry) {
	dc := a.days[e.Model]
	if dc == nil {
		if len(a.days) >= a.cfg.MaxVersions {
			return
		}
		dc = &dayCounts{used: map[string]*[numProp]int64{}, sums: map[string]*[numProp][2]float64{}}
		a.days[e.Model] = dc
	}
	used := dc.used[device]
	if used == nil {
		if len(dc.used) >= a.cfg.MaxDevices {
			return
		}
		used = new([numProp]int64)
		dc.used[device] = used
	}
	sums := dc.sums[e.Version]
	if sums == nil {
		if a.daySums >= a.cfg.MaxVersions {
			return
		}
		a.daySums++
		sums = new([numProp][2]float64)
		dc.sums[e.Version] = sums
	}
	for i := range numProp {
		n, k := entryEvents(e, i)
		take := min(n, a.cfg.MaxEvents-used[i])
		if take <= 0 {
			continue
		}
		if take < n {
			k = int64(math.Round(float64(k) * float64(take) / float64(n)))
		}
		used[i] += take
		sums[i][0] += float64(take)
		sums[i][1] += float64(k)
	}
}

// flipLocked starts a new UTC day (days only move forward): every stream's tree of the day that
// ended makes its closing release (covered by that day's charge) into its
// closed sums, the day's per-device counts are dropped, and streams idle
// for longer than the retention are forgotten. a.mu is held.
func (a *Aggregator) flipLocked(now time.Time) {
	day := telemetry.Day(now)
	if day <= a.today {
		return // same day, or a clock that stepped back: keep counting
	}
	for key, s := range a.streams {
		if s.day != "" && s.day == a.today {
			if err := a.releaseLocked(s); err != nil {
				// The noise library failed: keep the day's last release.
				a.cfg.Logger.Warn("health: closing release failed", "rollout", key[0], "metric", key[1], "err", err)
			}
			for j := range s.closed {
				s.closed[j].Value += s.last[j].Value
				s.closed[j].NoiseVariance += s.last[j].NoiseVariance
				s.last[j] = aggregate.Estimate{}
			}
			s.day, s.counters = "", [4]*aggregate.Counter{}
		}
		if now.Sub(s.at) > dhealth.Retention {
			delete(a.streams, key)
		}
	}
	a.today, a.days, a.daySums = day, map[string]*dayCounts{}, 0
}

// releaseLocked makes s's next release from today's counts. a.mu is held.
func (a *Aggregator) releaseLocked(s *stream) error {
	var totals [4]float64
	if dc := a.days[s.model]; dc != nil {
		for j, v := range [2]string{s.cur, s.cand} {
			if sums := dc.sums[v]; sums != nil {
				// With and without the outcome.
				totals[2*j], totals[2*j+1] = sums[s.idx][1], sums[s.idx][0]-sums[s.idx][1]
			}
		}
	}
	var next [4]aggregate.Estimate
	for j, c := range s.counters {
		e, err := c.Release(totals[j])
		if err != nil {
			return err
		}
		next[j] = e
	}
	s.last = next
	return nil
}

// continualArms is Arms for a proportion metric (see Arms).
func (a *Aggregator) continualArms(ctx context.Context, id, metric string, st rollout.Status, sc *telemetry.Schema) (rollout.Arms, error) {
	idx := propIndex(metric)
	now := a.cfg.Clock.Now()
	key := [2]string{id, metric}
	a.mu.Lock()
	a.flipLocked(now)
	s := a.streams[key]
	if s != nil && (s.model != st.Spec.Model || s.cur != st.Spec.Current || s.cand != st.Spec.Version) {
		s = nil // the rollout's versions changed: start over
	}
	if s != nil && s.day != "" && s.released && now.Sub(s.at) < a.cfg.MinInterval && now.Sub(s.at) >= 0 {
		arms := s.arms
		a.mu.Unlock()
		return arms, nil
	}
	if s == nil || s.day == "" {
		c := a.continual(sc)
		cost, err := treeCost(c)
		if err != nil {
			a.mu.Unlock()
			return rollout.Arms{}, fmt.Errorf("health: %s: %w", metric, err)
		}
		if err := a.cfg.Ledger.Spend(sc.Name, now, cost, sc.DailyBudget); err != nil {
			a.mu.Unlock()
			return rollout.Arms{}, fmt.Errorf("health: %s: %w", metric, err)
		}
		if s == nil {
			s = &stream{model: st.Spec.Model, cur: st.Spec.Current, cand: st.Spec.Version, idx: idx}
			a.streams[key] = s
		}
		for j := range s.counters {
			if s.counters[j], err = aggregate.NewCounter(c); err != nil {
				a.mu.Unlock()
				return rollout.Arms{}, fmt.Errorf("health: %s: %w", metric, err)
			}
		}
		s.day = a.today
	}
	if err := a.releaseLocked(s); err != nil {
		arms, ok := s.arms, s.released
		a.mu.Unlock()
		if ok && errors.Is(err, aggregate.ErrCounterExhausted) {
			return arms, nil // more looks than the tree allows: post-processing
		}
		return rollout.Arms{}, fmt.Errorf("health: release %s: %w", metric, err)
	}
	var est [4]aggregate.Estimate
	for j := range est {
		est[j] = aggregate.Estimate{Value: s.closed[j].Value + s.last[j].Value,
			NoiseVariance: s.closed[j].NoiseVariance + s.last[j].NoiseVariance}
	}
	s.arms = rollout.Arms{Current: splitSummary(est[0], est[1]), Candidate: splitSummary(est[2], est[3])}
	s.at, s.released = now, true
	arms := s.arms
	a.mu.Unlock()
	a.checkDrift(ctx, id)
	return arms, nil
}

// splitSummary is an arm from the released counts of events with the
// outcome, k, and without it, f: N = round(k̂ + f̂) ≥ 0, Sum = k̂ clamped
// to [0, N], and NoiseVariance the delta-method variance of p̂ = k̂/(k̂+f̂),
// ((1−p̂)²·V_k + p̂²·V_f)/N².
func splitSummary(k, f aggregate.Estimate) experiment.Summary {
	n := math.Max(math.Round(k.Value+f.Value), 0)
	s := experiment.Summary{N: n, Sum: math.Min(math.Max(k.Value, 0), n)}
	if n > 0 {
		p := s.Sum / n
		s.NoiseVariance = ((1-p)*(1-p)*k.NoiseVariance + p*p*f.NoiseVariance) / (n * n)
	}
	return s
}

// proportionSummary is an arm from released events n and outcomes k:
// N = round(n̂) ≥ 0, Sum = k̂ clamped to [0, N], NoiseVariance =
// (V_k + p̂²·V_n)/N² (delta method for the ratio k/n).
func proportionSummary(n, k aggregate.Estimate) experiment.Summary {
	nn := math.Max(math.Round(n.Value), 0)
	s := rollout.FromEstimate(experiment.MetricProportion, nn, k, 0)
	if nn > 0 {
		p := s.Sum / nn
		s.NoiseVariance += p * p * n.NoiseVariance / (nn * nn)
	}
	return s
}
