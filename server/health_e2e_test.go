package server

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/delivery/signing"
	dhealth "github.com/sextant-ml/sextant/device/health"
	devstore "github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/device/updater"
	"github.com/sextant-ml/sextant/device/verify"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/tensor"
)

// speedTraining is the training distribution of the public input "speed"
// that the candidate bundle declares: uniform over four buckets of [0, 40).
var speedTraining = dhealth.Histograms{"speed": {Edges: []float64{10, 20, 30}, Proportions: []float64{0.25, 0.25, 0.25, 0.25}}}

// healthBundle writes model@version (y = speed · 2) whose input is public
// and whose provenance carries speedTraining.
func healthBundle(t *testing.T, dir, model, version, parent string) string {
	t.Helper()
	g := scaleGraph("speed", 2)
	m := &bundle.Manifest{Name: model, Version: version, ParentVersion: parent, Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC()}}
	m.Signature.Inputs[0].Privacy = bundle.Public
	if err := dhealth.SetTrainingHistograms(m, speedTraining); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, g, m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, model+"-"+version+".sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// healthFleet is a server with a rollout controller fed by a health
// aggregator, two published versions of eta and enrolled devices.
type healthFleet struct {
	r    *running
	kd   signing.KeyDir
	ctl  *rollout.Controller
	agg  *health.Aggregator
	roll string
	regs []Registration
	rng  *rand.Rand
}

// newHealthFleet's streams spend ε = 50 per release: an 80-device fleet
// is tiny, and this test is about the path from check-in to director, not
// about the privacy of a real fleet (the gates' error rates under DP noise
// are delivery/rollout's simulation's subject).
func newHealthFleet(t *testing.T, devices int) *healthFleet {
	ctx := context.Background()
	kd, tk := keyDir(t)
	reg, err := telemetry.NewRegistry(dhealth.SchemasWith(50, 1e6)...)
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "health-ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := &healthFleet{rng: rand.New(rand.NewPCG(5, 6)), kd: kd}
	f.r = start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), t.TempDir(), kd, func(c *Config) {
		f.agg, err = health.New(health.Config{Registry: reg, Ledger: ledger, Clock: clock.Real, MaxEvents: 1000,
			MinInterval: time.Nanosecond, Training: health.TrainingFromRegistry(c.Store.(health.VersionGetter))})
		if err != nil {
			t.Fatal(err)
		}
		f.ctl = rollout.New(clock.Real, f.agg, rollout.Options{Interval: 20 * time.Millisecond})
		f.agg.Bind(f.ctl)
		c.Rollouts, c.Health, c.Drift = f.ctl, f.agg, f.agg
	})
	_, pub := f.r.token(t, delivery.ScopePublish)
	_, f.roll = f.r.token(t, delivery.ScopeRollout)
	_, enroll := f.r.token(t, delivery.ScopeEnroll)
	publish(t, f.r.client(pub), kd, tk, healthBundle(t, t.TempDir(), "eta", "1.0.0", ""), "eta")
	publish(t, f.r.client(pub), kd, tk, healthBundle(t, t.TempDir(), "eta", "2.0.0", "1.0.0"), "eta")
	if _, err := f.r.client(f.roll).SetCurrent(ctx, "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	f.regs = make([]Registration, devices)
	for i := range f.regs {
		if f.regs[i], err = f.r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", Region: "CH"}); err != nil {
			t.Fatal(err)
		}
	}
	spec := rollout.Spec{ID: "eta-2", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Stages: []rollout.Stage{{Share: 5000}, {Share: 9000}},
		Gates: []rollout.Gate{{Metric: health.MetricInferenceErrors, Kind: experiment.MetricProportion,
			MaxRegression: 0.02, MinUnits: 5000, Tuning: 20000}}}
	if _, err := f.r.client(f.roll).CreateRollout(ctx, spec); err != nil {
		t.Fatal(err)
	}
	return f
}

// round checks every device in with the health of what it ran since its
// last check-in (1 000 inferences at the error rate of its version, and
// its speed inputs) and returns how many run each version.
func (f *healthFleet) round(t *testing.T, errRate map[string]float64, shifted bool, installed map[string]string) map[string]int {
	t.Helper()
	ctx := context.Background()
	runs := map[string]int{}
	for i, reg := range f.regs {
		ci := manifest
		ci.Installed = map[string]string{}
		var rec *dhealth.Recorder
		if v := installed[reg.ID]; v != "" {
			ci.Installed["eta"] = v
			rec = dhealth.NewRecorder()
			for j := range 1000 {
				rec.Inference("eta", v, 3*time.Millisecond, f.rng.Float64() < errRate[v])
				if j%50 == 0 {
					x := f.rng.Float64() * 40
					if shifted && v == "2.0.0" {
						x = 30 + f.rng.Float64()*10
					}
					rec.ObserveInputs("eta", v, speedTraining, map[string]*tensor.Tensor{"speed": tensor.From([]float32{float32(x)}, 1)})
				}
			}
			ci.Health = rec.Take()
		}
		resp, err := f.r.client(reg.Credential).CheckIn(ctx, reg.ID, ci)
		if err != nil || len(resp.Targets) != 1 {
			t.Fatalf("device %d check-in: %+v, %v", i, resp, err)
		}
		installed[reg.ID] = resp.Targets[0].Version
		runs[resp.Targets[0].Version]++
	}
	return runs
}

// TestHealthGatesEndToEnd: devices report health with their check-ins over
// HTTP; the controller's gate reads the central-DP aggregates. A candidate
// with 8 points more inference errors is rolled back and every device is
// sent back to 1.0.0, with the candidate's input drift alarmed in the
// rollout's status; a healthy candidate advances through its stages to
// every device.
func TestHealthGatesEndToEnd(t *testing.T) {
	ctx := context.Background()
	t.Run("bad candidate rolls back", func(t *testing.T) {
		f := newHealthFleet(t, 80)
		installed := map[string]string{}
		rates := map[string]float64{"1.0.0": 0.01, "2.0.0": 0.09}
		f.round(t, rates, true, installed) // first check-in: assignments only
		runs := f.round(t, rates, true, installed)
		if runs["2.0.0"] == 0 || runs["1.0.0"] == 0 {
			t.Fatalf("the 50 %% stage split devices %v", runs)
		}
		// The controller's own loop (every 20 ms of the real clock) acts.
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		go f.ctl.Run(rctx)
		deadline := time.Now().Add(20 * time.Second)
		for st, _ := f.ctl.Status("eta-2"); st.State != rollout.RolledBack; st, _ = f.ctl.Status("eta-2") {
			if time.Now().After(deadline) {
				t.Fatalf("after reports of the bad candidate: %v; gates %+v", st.State, st.LastGates)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if runs := f.round(t, rates, true, installed); runs["2.0.0"] != 0 {
			t.Fatalf("after the rollback devices run %v", runs)
		}
		status, err := f.r.client(f.roll).RolloutStatus(ctx, "eta-2")
		if err != nil {
			t.Fatal(err)
		}
		last := status.History[len(status.History)-1]
		if last.Actor != rollout.Actor || len(last.Gates) != 1 || last.Gates[0].Verdict != rollout.Fail {
			t.Fatalf("rollback recorded as %+v", last)
		}
		d := status.Drift
		if d == nil || !d.Alarm || len(d.Features) != 1 || !d.Features[0].Candidate.Alarm || d.Features[0].Current.Alarm {
			t.Fatalf("drift %+v", d)
		}
		t.Logf("gate %+v; PSI current %.3f, candidate %.3f", last.Gates[0], d.Features[0].Current.PSI, d.Features[0].Candidate.PSI)
	})
	t.Run("good candidate advances", func(t *testing.T) {
		f := newHealthFleet(t, 80)
		installed := map[string]string{}
		rates := map[string]float64{"1.0.0": 0.01, "2.0.0": 0.01}
		f.round(t, rates, false, installed)
		f.round(t, rates, false, installed)
		if st, err := f.ctl.Evaluate(ctx, "eta-2"); err != nil || st != rollout.Baking {
			t.Fatalf("first evaluation: %v, %v", st, err)
		}
		if got, _ := f.ctl.Status("eta-2"); got.Stage != 1 {
			t.Fatalf("not advanced: %+v", got.LastGates)
		}
		f.round(t, rates, false, installed)
		if st, err := f.ctl.Evaluate(ctx, "eta-2"); err != nil || st != rollout.Completed {
			got, _ := f.ctl.Status("eta-2")
			t.Fatalf("second evaluation: %v, %v; gates %+v", st, err, got.LastGates)
		}
		if runs := f.round(t, rates, false, installed); runs["2.0.0"] != len(f.regs) {
			t.Fatalf("after completion devices run %v", runs)
		}
		status, err := f.r.client(f.roll).RolloutStatus(ctx, "eta-2")
		if err != nil || status.Drift == nil || status.Drift.Alarm {
			t.Fatalf("drift of a healthy candidate: %+v, %v", status.Drift, err)
		}
	})
}

// TestHealthFromRealUpdater: the SDK's own updater (UptaneVerifier over
// HTTP) carries the recorder's report in its check-in; the server's
// aggregator counts the device, and the delivered report is not sent again.
func TestHealthFromRealUpdater(t *testing.T) {
	ctx := context.Background()
	f := newHealthFleet(t, 1)
	_, enroll := f.r.token(t, delivery.ScopeEnroll)
	reg, err := f.r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := devstore.Open(nil, filepath.Join(t.TempDir(), "models"), 0)
	if err != nil {
		t.Fatal(err)
	}
	img, dir := roots(t, f.kd)
	tr := httptransport.New(nil)
	v, err := updater.NewUptaneVerifier(updater.UptaneConfig{ServerURL: f.r.url, DeviceID: reg.ID, Credential: reg.Credential,
		ImageRoot: img, DirectorRoot: dir, Store: verify.DirStore{Dir: filepath.Join(t.TempDir(), "trust")}, Transport: tr, Clock: clock.Real})
	if err != nil {
		t.Fatal(err)
	}
	rec := dhealth.NewRecorder()
	up, err := updater.New(st, updater.Config{Verifier: v, Transport: tr, BlobURL: v.BlobURL, Health: rec})
	if err != nil {
		t.Fatal(err)
	}
	rec.Inference("eta", "1.0.0", time.Millisecond, false)
	if _, err := up.CheckIn(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.agg.Devices("eta", "1.0.0"); n != 1 {
		t.Fatalf("the aggregator counts %d devices of eta@1.0.0", n)
	}
	if rep := rec.Take(); rep != nil {
		t.Fatalf("a delivered report was kept: %+v", rep)
	}
}
