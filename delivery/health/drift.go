package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/aggregate"
)

// DriftReport is a rollout's input drift: per public feature with a
// training histogram, each arm's privatized distribution and its PSI
// against the training distribution.
type DriftReport struct {
	At        time.Time `json:"at"`
	Threshold float64   `json:"threshold"`
	// Alarm is set when some arm's PSI of some feature exceeds Threshold
	// (with at least MinDriftDevices devices behind it).
	Alarm    bool           `json:"alarm"`
	Features []FeatureDrift `json:"features"`
	// Reason says why there is nothing to show (no training histograms,
	// budget spent).
	Reason string `json:"reason,omitempty"`
}

// FeatureDrift is one feature's drift in both arms.
type FeatureDrift struct {
	Feature   string    `json:"feature"`
	Training  []float64 `json:"training"`
	Current   ArmDrift  `json:"current"`
	Candidate ArmDrift  `json:"candidate"`
}

// ArmDrift is one arm's released distribution of a feature.
type ArmDrift struct {
	// Devices is the noisy number of devices behind the distribution.
	Devices     float64   `json:"devices"`
	Proportions []float64 `json:"proportions,omitempty"`
	PSI         float64   `json:"psi"`
	Alarm       bool      `json:"alarm"`
}

// psiFloor keeps empty buckets' logarithm finite.
const psiFloor = 1e-4

// PSI is the population stability index Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ) of actual
// proportions a against expected proportions e, each bucket floored at
// 10⁻⁴ (see the package documentation for the formula's source).
func PSI(actual, expected []float64) float64 {
	psi := 0.0
	for i := range min(len(actual), len(expected)) {
		a, e := math.Max(actual[i], psiFloor), math.Max(expected[i], psiFloor)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// checkDrift refreshes rollout id's drift when it is due and calls
// OnDriftAlarm for a fresh release that alarms.
func (a *Aggregator) checkDrift(ctx context.Context, id string) {
	if a.cfg.OnDriftAlarm == nil || a.cfg.Training == nil {
		return
	}
	a.mu.Lock()
	before := a.drifts[id]
	a.mu.Unlock()
	r, err := a.Drift(ctx, id)
	if err == nil && r != nil && r != before && r.Alarm {
		a.cfg.OnDriftAlarm(id, r)
	}
}

// Drift returns rollout id's input drift, released afresh at most every
// MinInterval·10 (and charged to the drift stream's budget); in between,
// and once the budget is spent, the last release is shown again.
func (a *Aggregator) Drift(ctx context.Context, id string) (*DriftReport, error) {
	a.mu.Lock()
	ro := a.rollouts
	a.mu.Unlock()
	if ro == nil || a.cfg.Training == nil {
		return nil, nil
	}
	st, err := ro.Status(id)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	last := a.drifts[id]
	a.mu.Unlock()
	if last != nil && now.Sub(last.At) < 10*a.cfg.MinInterval && now.Sub(last.At) >= 0 {
		return last, nil
	}
	train, err := a.cfg.Training(ctx, st.Spec.Model, st.Spec.Version)
	if err != nil {
		return nil, fmt.Errorf("health: training histograms of %s@%s: %w", st.Spec.Model, st.Spec.Version, err)
	}
	if len(train) == 0 {
		rep := &DriftReport{At: now, Threshold: a.cfg.Threshold, Reason: "the candidate's bundle declares no training histograms of public inputs"}
		a.mu.Lock()
		a.drifts[id] = rep
		a.mu.Unlock()
		return rep, nil
	}
	sc, err := a.cfg.Registry.Lookup(dhealth.StreamDrift)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cfg.Ledger.Spend(dhealth.StreamDrift, now, sc.Epsilon, sc.DailyBudget); err != nil {
		if BudgetExhausted(err) && last != nil {
			return last, nil
		}
		if BudgetExhausted(err) {
			return &DriftReport{At: now, Threshold: a.cfg.Threshold, Reason: "the drift stream's daily privacy budget is spent"}, nil
		}
		return nil, err
	}
	rep, err := a.driftLocked(st.Spec.Model, st.Spec.Current, st.Spec.Version, train, sc.Epsilon)
	if err != nil {
		return nil, err
	}
	rep.At = now
	a.drifts[id] = rep
	return rep, nil
}

func (a *Aggregator) driftLocked(model, current, candidate string, train dhealth.Histograms, eps float64) (*DriftReport, error) {
	names := make([]string, 0, len(train))
	for f := range train {
		names = append(names, f)
	}
	slices.Sort(names)
	// Each device adds a distribution (L1 norm ≤ 1) per feature to one
	// arm: per feature ε/F, Laplace on every bucket.
	m := aggregate.Mechanism{Noise: aggregate.Laplace, Epsilon: eps / float64(len(names)), L0: 1, LInf: 1}
	cur, cand := a.armsLocked(model, current, candidate)
	rep := &DriftReport{Threshold: a.cfg.Threshold}
	for _, f := range names {
		h := train[f]
		fd := FeatureDrift{Feature: f, Training: h.Proportions}
		for i, devs := range []map[string]*totals{cur, cand} {
			sum := make([]float64, len(h.Proportions))
			for _, t := range devs {
				c := t.drift[f]
				if len(c) != len(sum) {
					continue
				}
				var tot int64
				for _, x := range c {
					tot += x
				}
				if tot == 0 {
					continue
				}
				for b, x := range c {
					sum[b] += float64(x) / float64(tot)
				}
			}
			var ad ArmDrift
			for b := range sum {
				v, err := m.AddFloat64(sum[b])
				if err != nil {
					return nil, errors.Join(errors.New("health: drift release"), err)
				}
				sum[b] = math.Max(v, 0)
				ad.Devices += sum[b]
			}
			if ad.Devices > 0 {
				for b := range sum {
					sum[b] /= ad.Devices
				}
				ad.Proportions = sum
				ad.PSI = PSI(sum, h.Proportions)
				ad.Alarm = ad.PSI > a.cfg.Threshold && ad.Devices >= a.cfg.MinDriftDevices
			}
			rep.Alarm = rep.Alarm || ad.Alarm
			if i == 0 {
				fd.Current = ad
			} else {
				fd.Candidate = ad
			}
		}
		rep.Features = append(rep.Features, fd)
	}
	return rep, nil
}
