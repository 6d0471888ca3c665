package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/server/console"
	"github.com/sextant-ml/sextant/sim"
	"github.com/sextant-ml/sextant/store"
)

// day is one step of the demo's simulated calendar: every phone serves its
// user's requests of a day, then checks in (sending that day's health
// report and getting its assignment), and the rollout controller looks.
const day = 24 * time.Hour

// demoHealthEpsilon is the ε of one release of a health stream in the demo.
const demoHealthEpsilon = 2

// control is the server-side machinery the demo drives: the rollout
// controller and the health aggregator feeding its gates, on the story's
// simulated calendar, and the console's experiment board.
type control struct {
	clk         *clock.Manual
	ctl         *rollout.Controller
	agg         *health.Aggregator
	experiments *console.ExperimentBoard
	tasks       *console.Coordinators
}

// configure returns the fleet option that wires c into the server.
func (c *control) configure(dir string) sim.FleetOption {
	return func(cfg *server.Config, db *store.DB) error {
		ledger, err := telemetry.OpenLedger(dir + "/health-ledger.json")
		if err != nil {
			return err
		}
		// The controller looks once a simulated day, so each health stream
		// makes about one release a day: ε 2 per release within a daily
		// budget of 4 (the server's defaults, 0.5 and 200, suit a look
		// every few minutes).
		reg, err := telemetry.NewRegistry(dhealth.SchemasWith(demoHealthEpsilon, 2*demoHealthEpsilon)...)
		if err != nil {
			return err
		}
		// The gates read per-device metrics (gates): one release of each
		// simulated day's values per gate, at the daily look after it
		// (UnitPeriod, a day). Any other release is reused for half a
		// simulated day, so each daily look is a fresh one; proportion
		// metrics, which the gates no longer read, are fresh releases of
		// the running totals (continual release's noise, added to every
		// day's counts, kept a 300-phone fleet's proportion gates
		// inconclusive at a 10 point tolerance for all of v2's ten days).
		if c.agg, err = health.New(health.Config{Registry: reg, Ledger: ledger, Clock: c.clk, Training: health.TrainingFromRegistry(db),
			MinInterval: day / 2, FreshReleases: true}); err != nil {
			return err
		}
		// A rollout's start is the end of its pre-period: the aggregator
		// takes each phone's rates then as the per-device gates' covariate.
		c.ctl = rollout.New(c.clk, c.agg, rollout.Options{Pointer: db, Persister: db, PauseAfter: 3 * day,
			OnStart: c.agg.StartRollout})
		c.agg.Bind(c.ctl)
		cfg.Rollouts, cfg.Health, cfg.Drift = c.ctl, c.agg, c.agg
		cfg.Experiments, cfg.Tasks = c.experiments, c.tasks
		return nil
	}
}

// gates are the health and quality gates every demo rollout carries: the
// candidate's on-device Acc@1 must not be worse than the current
// version's, nor its inference error rate higher, by more than tol. Both
// have the phone as the unit (a phone's predictions are not independent
// of each other) and its rate before the rollout as a covariate (CUPED:
// most of the spread between phones is their users' predictability,
// which the difference from a phone's own baseline removes); see
// delivery/health's per-device gates. The DP noise on a mean over phones
// falls as 1/phones, so the tolerance a fleet can certify depends on its
// size: 3 points for the default fleet, 10 in --fast. The confidence
// sequences are tuned (N*) to the fleet, the most phones a gate can see.
func (s *story) gates() []rollout.Gate {
	tol := 0.03
	if s.cfg.fast {
		tol = 0.10
	}
	n := float64(s.cfg.devices)
	// A gate decides once 50 candidate phones report in a day, or 10 % of
	// the fleet when that is fewer: the 20 % stage of a 300-phone --fast
	// fleet has ~60 phones, of which ~45–50 report a labelled prediction
	// on a given day (measured: 39–49), so 50 would hold it forever.
	minUnits := min(50, 0.1*n)
	return []rollout.Gate{
		{Metric: health.MetricAcc1Device, Kind: experiment.MetricMean, Direction: rollout.HigherIsBetter, MaxRegression: tol, MinUnits: minUnits, Tuning: n},
		{Metric: health.MetricInferenceErrorsDevice, Kind: experiment.MetricMean, Direction: rollout.LowerIsBetter, MaxRegression: tol, MinUnits: minUnits, Tuning: n},
	}
}

// runRollout rolls candidate of model out over current in stages on the
// simulated calendar until the controller completes it, rolls it back or
// maxDays pass, and returns its story. At the stage with a 50 % share it
// also analyses the A/B test between the arms (on the DP-released
// outcome counts the gates see) with its sample-ratio check.
func (s *story) runRollout(ctx context.Context, f *sim.Fleet, c *control, sd *servingData, id, model, candidate, current string, maxDays int) (*demoRollout, error) {
	// Phones learn of a new stage at their next daily check-in, so the
	// 50 % stage bakes two days: one served under it, for its A/B test.
	spec := rollout.Spec{ID: id, Model: model, Version: candidate, Current: current,
		Stages: []rollout.Stage{{Share: 2000, Bake: day}, {Share: 5000, Bake: 2 * day}}, Gates: s.gates()}
	// Phones check in once a day, at its end: each sends the health it
	// recorded that day and installs what the director assigns it then,
	// for the next day. A decision the controller makes after looking
	// reaches a phone at its next check-in, as in a real fleet.
	checkIn := func() error {
		return f.Each(ctx, "", nil, func(dv *sim.Device) error { dv.CheckIn(ctx, f); return nil })
	}
	// The phones' health so far reaches the server before the rollout
	// starts: the gates' pre-period.
	if err := checkIn(); err != nil {
		return nil, err
	}
	// Creating a rollout through the admin API starts it.
	if _, err := f.Admin().CreateRollout(ctx, spec); err != nil {
		return nil, err
	}
	r := &demoRollout{ID: id, Model: model, Candidate: candidate, Current: current}
	per := 20
	if s.cfg.fast {
		per = 40
	}
	if err := checkIn(); err != nil {
		return nil, err
	}
	assigned, latest := uint32(0), uint32(0) // shares under which today's and the next day's phones were assigned
	if st, err := f.Admin().Rollout(ctx, id); err == nil {
		assigned, latest = st.Share, st.Share
	}
	// The A/B test's window: the health phones report from the first day
	// served under the 50 % stage on, not their earlier days on a version.
	var window *health.Window
	for d := 1; d <= maxDays; d++ {
		if assigned == 5000 && window == nil {
			window = c.agg.OpenWindow(model, current, candidate)
		}
		mix := versionMix(f, model, fmt.Sprintf("%s day %d", id, d))
		s.rep.Mix = append(s.rep.Mix, mix)
		if _, err := s.serve(ctx, f, sd, nil, per, id); err != nil {
			return nil, err
		}
		if err := checkIn(); err != nil {
			return nil, err
		}
		today := assigned
		assigned = latest
		c.clk.Advance(day)
		st, err := c.ctl.Evaluate(ctx, id)
		if err != nil {
			return nil, err
		}
		status, err := f.Admin().Rollout(ctx, id)
		if err != nil {
			return nil, err
		}
		latest = status.Share
		r.Days = append(r.Days, demoRolloutDay{Day: d, State: st.String(), Share: float64(status.Share) / 100,
			Mix: mix.Versions, Gates: status.LastGates})
		s.disp.show("rollout", fmt.Sprintf("%s %s days (at most): %s at %.0f%%; %s", id, bar(d, maxDays), st, float64(status.Share)/100, mixText(mix.Versions)))
		if today == 5000 && r.AB == nil {
			// Today's phones were assigned under the 50 % stage: the A/B
			// test compares its arms over the window.
			if r.AB, err = s.abTest(ctx, c, window, id, model, candidate, current, mix); err != nil {
				return nil, err
			}
			r.AB.Share, r.AB.Day = float64(today)/100, d
		}
		if st != rollout.Baking && st != rollout.Pending && st != rollout.Paused {
			r.Final = st.String()
			break
		}
	}
	if r.Final == "" {
		// Still inconclusive: the operator stops waiting and keeps the
		// current version (an inconclusive rollout never promotes).
		if _, err := f.Admin().RolloutAct(ctx, id, "rollback", fmt.Sprintf("demo: inconclusive after %d days", maxDays)); err != nil {
			return nil, err
		}
	}
	status, err := f.Admin().Rollout(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Final == "" {
		r.Final = status.State.String() + " (inconclusive; operator)"
	}
	r.FinalShare = float64(status.Share) / 100
	for _, h := range status.History {
		r.History = append(r.History, demoTransition{At: h.At.Sub(status.History[0].At).Hours() / 24, To: h.To.String(),
			Share: float64(h.Share) / 100, Actor: h.Actor, Reason: h.Reason})
	}
	// One more check-in: the director's decision reaches every phone.
	if err := f.Each(ctx, "", nil, func(dv *sim.Device) error { dv.CheckIn(ctx, f); return nil }); err != nil {
		return nil, err
	}
	final := versionMix(f, model, id+" end")
	s.rep.Mix = append(s.rep.Mix, final)
	r.EndMix = final.Versions
	s.rep.Rollouts = append(s.rep.Rollouts, *r)
	return r, nil
}

// abTest analyses the on-device Acc@1 of the two arms from a DP release of
// the health phones reported within the experiment's window (its own
// release, charged to the quality stream's budget), with the phone as the
// unit (a phone's predictions are not independent of each other, so
// pooling them would understate the interval) and its pre-rollout rate as
// the covariate: CUPED with θ = 1, each phone's window rate minus its own
// rate in the baseline the gates use (health.Aggregator.WindowCUPEDArms;
// between-user differences dominate per-phone accuracy, and the
// difference removes them). It reports the effect on the adjusted values
// with a 95 % interval (and the always-valid one), the arms' raw means,
// and the sample-ratio check of the phones the director assigned to each
// arm (mix) against the stage's 50/50 split. Without a baseline it falls
// back to the raw per-phone rates.
func (s *story) abTest(ctx context.Context, c *control, w *health.Window, id, model, candidate, current string, mix demoMix) (*demoAB, error) {
	ab := &demoAB{Metric: "on-device Acc@1 per phone", Control: current, Treatment: candidate}
	var cur, cand experiment.Summary
	ca, err := c.agg.WindowCUPEDArms(ctx, w, id, health.MetricAcc1, current, candidate)
	switch {
	case err == nil:
		cur, cand = ca.Current.Adjusted, ca.Candidate.Adjusted
		ab.ControlMean, ab.TreatmentMean = ca.Current.Raw.Mean(), ca.Candidate.Raw.Mean()
		ab.Adjustment = "CUPED θ = 1: each phone's rate in the window minus its own pre-rollout rate"
		ab.ControlChange, ab.TreatmentChange = cur.Mean(), cand.Mean()
	case errors.Is(err, health.ErrNoBaseline):
		arms, err := c.agg.WindowUnitArms(ctx, w, health.MetricAcc1, current, candidate)
		if err != nil {
			return nil, fmt.Errorf("A/B arms: %w", err)
		}
		cur, cand = arms.Current, arms.Candidate
		ab.ControlMean, ab.TreatmentMean = cur.Mean(), cand.Mean()
	default:
		return nil, fmt.Errorf("A/B arms: %w", err)
	}
	res, err := experiment.Analyze(experiment.MetricMean, cur, cand, experiment.Options{Alpha: 0.05})
	if err != nil {
		return nil, fmt.Errorf("A/B analysis: %w", err)
	}
	seq, err := experiment.Analyze(experiment.MetricMean, cur, cand,
		experiment.Options{Alpha: 0.05, Sequential: &experiment.Sequential{Tuning: experiment.DefaultTuning}})
	if err != nil {
		return nil, fmt.Errorf("A/B sequential analysis: %w", err)
	}
	nc, nt := float64(mix.Versions[current]), float64(mix.Versions[candidate])
	srm, err := experiment.SRM([]float64{nc, nt}, []float64{0.5, 0.5})
	if err != nil {
		return nil, fmt.Errorf("SRM: %w", err)
	}
	ab.ControlDevices, ab.TreatmentDevices = nc, nt
	ab.ControlReporting, ab.TreatmentReporting = cur.N, cand.N
	ab.Effect, ab.Low, ab.High, ab.P, ab.SeqLow, ab.SeqHigh = res.Effect, res.CILow, res.CIHigh, res.PValue, seq.CILow, seq.CIHigh
	ab.SRMChi2, ab.SRMP = srm.Chi2, srm.PValue
	metric := health.MetricAcc1 + " per phone"
	if ab.Adjustment != "" {
		metric += ", CUPED (minus its pre-rollout rate)"
	}
	c.experiments.Put(console.Experiment{ID: id, Model: model, Metric: metric, Control: current, Treatment: candidate,
		ControlUnits: nc, TreatmentUnits: nt, Result: res, SRM: srm})
	return ab, nil
}

// mixText lists a version mix as "v1.0.0 798, v1.1.0 202", by version.
func mixText(m map[string]int) string {
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("v%s %d", v, m[v]))
	}
	return strings.Join(parts, ", ")
}
