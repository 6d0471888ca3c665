package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
)

// Window is a snapshot of every device's totals for some versions of a
// model, taken when an experiment's window opens. WindowArms releases only
// what devices reported after it, so an A/B test compares its arms over
// the experiment alone, not over the earlier days a device spent on a
// version (before a stage put it in an arm).
type Window struct {
	model string
	at    time.Time
	// base[version][device] are the totals at the start (drift left out).
	base map[string]map[string]totals
}

// Model is the model the window covers.
func (w *Window) Model() string { return w.model }

// Opened is when the window opened.
func (w *Window) Opened() time.Time { return w.at }

// OpenWindow snapshots model's per-device totals of versions now. It costs
// no privacy budget: nothing is released.
func (a *Aggregator) OpenWindow(model string, versions ...string) *Window {
	w := &Window{model: model, at: a.cfg.Clock.Now(), base: map[string]map[string]totals{}}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range versions {
		devs := a.parts[model][v]
		b := make(map[string]totals, len(devs))
		for d, t := range devs {
			c := *t
			c.drift = nil
			b[d] = c
		}
		w.base[v] = b
	}
	return w
}

// ErrNotWindowed is returned by WindowArms for a metric a window cannot
// difference (a memory peak is a maximum, not a sum).
var ErrNotWindowed = errors.New("health: metric cannot be restricted to a window")

// WindowArms releases metric's arms current and candidate of the window's
// model counting only the events devices reported since w opened: each
// device's totals minus its totals then (whole, when they restarted after
// retention). A device counts in the arm of the version it reported most
// recently within the window, and not at all if it reported nothing in
// it. Each call is a fresh central-DP release charged to the stream's daily
// budget, as Arms charges (one device still adds to one arm only).
func (a *Aggregator) WindowArms(ctx context.Context, w *Window, metric, current, candidate string) (rollout.Arms, error) {
	return a.windowRelease(ctx, w, metric, current, candidate, false)
}

// WindowUnitArms is WindowArms of a proportion metric with the device as
// the unit: each arm is the mean over its devices of each device's rate
// within the window (a mean metric, for experiment.MetricMean). The
// device is what an experiment randomizes, and one device's events are
// not independent of each other (a predictable user's phone hits often),
// so this is the analysis whose interval holds; pooling events understates
// it. The release costs what WindowArms's does.
func (a *Aggregator) WindowUnitArms(ctx context.Context, w *Window, metric, current, candidate string) (rollout.Arms, error) {
	if metric == MetricLatencyP95 {
		return rollout.Arms{}, fmt.Errorf("health: %s is already a per-device mean", metric)
	}
	return a.windowRelease(ctx, w, metric, current, candidate, true)
}

func (a *Aggregator) windowRelease(_ context.Context, w *Window, metric, current, candidate string, perDevice bool) (rollout.Arms, error) {
	stream, ok := metricStream[metric]
	if !ok {
		return rollout.Arms{}, fmt.Errorf("%w: %q", ErrUnknownMetric, metric)
	}
	if metric == MetricMemory {
		return rollout.Arms{}, fmt.Errorf("%w: %q", ErrNotWindowed, metric)
	}
	for _, v := range []string{current, candidate} {
		if _, ok := w.base[v]; !ok {
			return rollout.Arms{}, fmt.Errorf("health: window on %s opened without version %q", w.model, v)
		}
	}
	sc, err := a.cfg.Registry.Lookup(stream)
	if err != nil {
		return rollout.Arms{}, err
	}
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	if err := a.cfg.Ledger.Spend(stream, now, sc.Epsilon, sc.DailyBudget); err != nil {
		a.mu.Unlock()
		return rollout.Arms{}, fmt.Errorf("health: %s: %w", metric, err)
	}
	cur, cand := a.windowArmsLocked(w, current, candidate)
	var in [2]armValues
	for i, devs := range []map[string]*totals{cur, cand} {
		if perDevice {
			for _, t := range devs {
				if n, k := events(t, metric); n > 0 {
					in[i].v = append(in[i].v, float64(k)/float64(n))
				}
			}
		} else {
			in[i] = a.gather(devs, metric)
		}
	}
	a.mu.Unlock()
	var arms rollout.Arms
	for i, v := range in {
		var s experiment.Summary
		var err error
		if perDevice {
			s, err = a.releaseMean(v.v, 1, sc.Epsilon)
		} else {
			s, err = a.releaseArm(v, metric, sc.Epsilon)
		}
		if err != nil {
			return rollout.Arms{}, fmt.Errorf("health: release %s: %w", metric, err)
		}
		if i == 0 {
			arms.Current = s
		} else {
			arms.Candidate = s
		}
	}
	return arms, nil
}

// windowArmsLocked returns each arm's devices' totals within window w
// (a.mu held). A device in both arms counts in the one it reported most
// recently, as in Arms; a tie goes to the candidate.
func (a *Aggregator) windowArmsLocked(w *Window, current, candidate string) (cur, cand map[string]*totals) {
	cur = windowDeltas(a.parts[w.model][current], w.base[current])
	cand = windowDeltas(a.parts[w.model][candidate], w.base[candidate])
	for d, t := range cur {
		if o, both := cand[d]; both {
			if t.last.After(o.last) {
				delete(cand, d)
			} else {
				delete(cur, d)
			}
		}
	}
	return cur, cand
}

// windowDeltas returns each device's totals in devs minus its totals in
// base, leaving out devices that added nothing since.
func windowDeltas(devs map[string]*totals, base map[string]totals) map[string]*totals {
	out := map[string]*totals{}
	for d, t := range devs {
		delta := *t
		delta.drift = nil
		if b, ok := base[d]; ok && b.first.Equal(t.first) {
			delta.sub(&b)
		}
		if delta.empty() {
			continue
		}
		out[d] = &delta
	}
	return out
}

// sub subtracts earlier totals b of the same device and version (counts
// only grow, saturating at the cap: a difference never goes below zero).
func (t *totals) sub(b *totals) {
	d := func(x, y int64) int64 { return max(x-y, 0) }
	t.loads, t.loadFailures = d(t.loads, b.loads), d(t.loadFailures, b.loadFailures)
	t.inferences, t.errors = d(t.inferences, b.inferences), d(t.errors, b.errors)
	t.sessions, t.crashes = d(t.sessions, b.sessions), d(t.crashes, b.crashes)
	t.labeled, t.top1 = d(t.labeled, b.labeled), d(t.top1, b.top1)
	for i := range t.latency {
		t.latency[i] = d(t.latency[i], b.latency[i])
	}
}

// empty reports whether t counts no event.
func (t *totals) empty() bool {
	if t.loads != 0 || t.inferences != 0 || t.sessions != 0 || t.labeled != 0 {
		return false
	}
	for _, c := range t.latency {
		if c != 0 {
			return false
		}
	}
	return true
}
