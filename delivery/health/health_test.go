package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/tensor"
)

// fixedRollouts answers Status for one rollout of eta 1.0.0 → 2.0.0.
type fixedRollouts struct{}

func (fixedRollouts) Status(id string) (rollout.Status, error) {
	return rollout.Status{Spec: rollout.Spec{ID: id, Model: "eta", Current: "1.0.0", Version: "2.0.0"}}, nil
}

func newAgg(t *testing.T, eps, daily float64, train TrainingHistograms) (*Aggregator, *telemetry.Ledger) {
	t.Helper()
	reg, err := telemetry.NewRegistry(dhealth.SchemasWith(eps, daily)...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Registry: reg, Ledger: l, Clock: clock.Real, MaxEvents: 200, Training: train,
		Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	a.Bind(fixedRollouts{})
	return a, l
}

// report is one device's check-in report of n inferences with k errors
// (and latency ms each) under version.
func report(version string, n, k int64, latencyMs float64) *dhealth.Report {
	r := dhealth.NewRecorder()
	for i := range n {
		r.Inference("eta", version, time.Duration(latencyMs*float64(time.Millisecond)), i < k)
	}
	return r.Take()
}

// TestArmsAndBudget covers fresh releases (Config.FreshReleases).
func TestArmsAndBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, l := newAgg(t, 4, 12, nil)
		a.cfg.FreshReleases = true // continual_test.go covers the default
		for d := range 400 {
			v, k := "1.0.0", int64(1)
			if d%4 == 0 {
				v, k = "2.0.0", 5
			}
			// Two check-ins each; totals add up per device.
			for range 2 {
				if err := a.Ingest(ctx, fmt.Sprint("dev", d), report(v, 50, k, 8)); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A device that moved to the candidate counts there only.
		if err := a.Ingest(ctx, "dev1", report("2.0.0", 100, 10, 8)); err != nil {
			t.Fatal(err)
		}
		arms, err := a.Arms(ctx, "r", MetricInferenceErrors)
		if err != nil {
			t.Fatal(err)
		}
		// Current: 299 devices × 100 events, 2 % errors; candidate: 101
		// devices × 100 (capped from 100), 10 %.
		cur, cand := arms.Current, arms.Candidate
		off := func(s experiment.Summary, p float64) bool {
			return math.Abs(s.Sum/s.N-p) > 4*math.Sqrt(s.NoiseVariance)
		}
		if math.Abs(cur.N-29900) > 1000 || off(cur, 0.02) || math.Abs(cand.N-10100) > 1000 || off(cand, 0.10) {
			t.Fatalf("arms %+v", arms)
		}
		if !(cur.NoiseVariance > 0 && cand.NoiseVariance > cur.NoiseVariance) {
			t.Fatalf("noise variance not folded in: %+v", arms)
		}
		if got := l.Spent(dhealth.StreamInference, time.Now()); got != 4 {
			t.Fatalf("spent %v after one release, want 4", got)
		}
		// Within MinInterval the release is reused and nothing is charged.
		again, err := a.Arms(ctx, "r", MetricInferenceErrors)
		if err != nil || again != arms || l.Spent(dhealth.StreamInference, time.Now()) != 4 {
			t.Fatalf("reuse: %+v, %v", again, err)
		}
		// Two more fresh releases spend the day's 12; the next one fails.
		for range 2 {
			time.Sleep(time.Minute)
			if _, err := a.Arms(ctx, "r", MetricInferenceErrors); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)
		if _, err := a.Arms(ctx, "r", MetricInferenceErrors); !BudgetExhausted(err) {
			t.Fatalf("over budget: %v", err)
		}
		// Another stream has its own budget; the latency gate's arms are
		// means over devices of each device's p95 (8 ms falls in (5, 10]).
		lat, err := a.Arms(ctx, "r", MetricLatencyP95)
		if err != nil {
			t.Fatal(err)
		}
		// Each device's p95 is 9.75 ms; the noise of a sum bounded by
		// 2 000 ms dominates: allow four of its standard deviations.
		if m := lat.Current.Mean(); math.Abs(lat.Current.N-299) > 20 || math.Abs(m-9.75) > 4*math.Sqrt(lat.Current.NoiseVariance) {
			t.Fatalf("latency arm %+v (mean %v)", lat.Current, m)
		}
		if _, err := a.Arms(ctx, "r", "made_up"); err == nil {
			t.Fatal("unknown metric answered")
		}
	})
}

// TestNoiseVarianceIsHonest: over many fresh releases of the same data the
// proportion's empirical variance matches the NoiseVariance reported.
func TestNoiseVarianceIsHonest(t *testing.T) {
	a, _ := newAgg(t, 1, 1e9, nil)
	devs := map[string]*totals{}
	// Far from 0 and N, so clamping the noisy sum does not bind.
	for d := range 1000 {
		devs[fmt.Sprint(d)] = &totals{inferences: 100, errors: int64(d % 50)}
	}
	const runs = 1500
	var sum, sq, reported float64
	for range runs {
		s, err := a.proportionArm(devs, MetricInferenceErrors, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := s.Sum / s.N
		sum += p
		sq += p * p
		reported += s.NoiseVariance
	}
	mean := sum / runs
	emp := sq/runs - mean*mean
	rep := reported / runs
	// Laplace has kurtosis 6: the sample variance's relative SE is
	// √(5/runs) ≈ 5 %; allow five of them.
	if math.Abs(emp/rep-1) > 0.25 {
		t.Fatalf("empirical noise variance %.3g, reported %.3g", emp, rep)
	}
	t.Logf("p̂ noise variance: empirical %.3g, reported %.3g", emp, rep)
}

func TestP95(t *testing.T) {
	c := make([]int64, dhealth.NumLatencyBuckets)
	c[3] = 100 // all in (5, 10] ms
	if v, ok := P95(c, 2000); !ok || math.Abs(v-9.75) > 1e-9 {
		t.Fatalf("p95 = %v, %v; want 9.75", v, ok)
	}
	c[3], c[0] = 90, 10
	// 95th of 100: the 5th of 90 in (5, 10]: 5 + 5·(95−10)/90.
	if v, _ := P95(c, 2000); math.Abs(v-(5+5*85.0/90)) > 1e-9 {
		t.Fatalf("p95 = %v", v)
	}
	if _, ok := P95(make([]int64, dhealth.NumLatencyBuckets), 2000); ok {
		t.Fatal("empty histogram has a p95")
	}
}

func TestPSI(t *testing.T) {
	// (0.5−0.25)·ln 2 + (0.5−0.75)·ln(2/3).
	want := 0.25*math.Log(2) - 0.25*math.Log(2.0/3)
	if got := PSI([]float64{0.5, 0.5}, []float64{0.25, 0.75}); math.Abs(got-want) > 1e-12 {
		t.Fatalf("PSI = %v, want %v", got, want)
	}
	if PSI([]float64{0.3, 0.7}, []float64{0.3, 0.7}) != 0 {
		t.Fatal("PSI of identical distributions is not 0")
	}
}

func TestDrift(t *testing.T) {
	train := dhealth.Histograms{"speed": {Edges: []float64{10, 20, 30}, Proportions: []float64{0.25, 0.25, 0.25, 0.25}}}
	calls := 0
	a, l := newAgg(t, 2, 100, func(_ context.Context, model, version string) (dhealth.Histograms, error) {
		calls++
		if model != "eta" || version != "2.0.0" {
			return nil, fmt.Errorf("asked for %s@%s", model, version)
		}
		return train, nil
	})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for d := range 600 {
		r := dhealth.NewRecorder()
		v := "1.0.0"
		if d%2 == 0 {
			v = "2.0.0"
		}
		for range 20 {
			x := rng.Float64() * 40 // the training distribution
			if v == "2.0.0" {
				x = 25 + rng.Float64()*15 // shifted into the top two buckets
			}
			r.ObserveInputs("eta", v, train, map[string]*tensorT{"speed": scalar(x)})
		}
		if err := a.Ingest(ctx, fmt.Sprint(d), r.Take()); err != nil {
			t.Fatal(err)
		}
	}
	// The gates' evaluation refreshes drift and raises the alarm.
	var alarms []*DriftReport
	a.cfg.OnDriftAlarm = func(id string, r *DriftReport) { alarms = append(alarms, r) }
	if _, err := a.Arms(ctx, "r", MetricInferenceErrors); err != nil {
		t.Fatal(err)
	}
	rep, err := a.Drift(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms) != 1 || alarms[0] != rep {
		t.Fatalf("alarms %v, report %p", alarms, rep)
	}
	if len(rep.Features) != 1 || !rep.Alarm {
		t.Fatalf("drift %+v", rep)
	}
	f := rep.Features[0]
	if f.Current.PSI > 0.05 || f.Current.Alarm || f.Candidate.PSI < 0.5 || !f.Candidate.Alarm ||
		math.Abs(f.Candidate.Devices-300) > 30 {
		t.Fatalf("feature drift %+v", f)
	}
	t.Logf("PSI current %.3f, candidate %.3f", f.Current.PSI, f.Candidate.PSI)
	// Looking again soon shows the same release at no cost.
	again, _ := a.Drift(ctx, "r")
	if again != rep || l.Spent(dhealth.StreamDrift, time.Now()) != 2 || calls != 1 {
		t.Fatalf("drift re-released: spent %v, calls %d", l.Spent(dhealth.StreamDrift, time.Now()), calls)
	}
}

type tensorT = tensor.Tensor

func scalar(x float64) *tensor.Tensor { return tensor.From([]float32{float32(x)}, 1) }

// TestIngestBounds: made-up versions stop being tracked at MaxVersions,
// extra devices at MaxDevices, and invalid reports change nothing.
func TestIngestBounds(t *testing.T) {
	ctx := context.Background()
	a, _ := newAgg(t, 1, 10, nil)
	a.cfg.MaxVersions, a.cfg.MaxDevices = 3, 2
	for i := range 10 {
		rep := &dhealth.Report{Entries: []dhealth.Entry{{Model: "eta", Version: fmt.Sprintf("9.%d.0", i), Inferences: 1}}}
		if err := a.Ingest(ctx, fmt.Sprint("d", i), rep); err != nil {
			t.Fatal(err)
		}
	}
	if a.nversions != 3 || a.Devices("eta", "9.3.0") != 0 {
		t.Fatalf("tracking %d versions", a.nversions)
	}
	for i := range 5 {
		if err := a.Ingest(ctx, fmt.Sprint("e", i), report("9.0.0", 1, 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.Devices("eta", "9.0.0"); n != 2 {
		t.Fatalf("%d devices of a version bounded at 2", n)
	}
	bad := &dhealth.Report{Entries: []dhealth.Entry{{Model: "eta", Version: "1.0.0", Inferences: 1, InferenceErrors: 2}}}
	if err := a.Ingest(ctx, "x", bad); !errors.Is(err, dhealth.ErrInvalid) || a.Devices("eta", "1.0.0") != 0 {
		t.Fatalf("invalid report: %v", err)
	}
}

// TestRetention: no device's totals outlive the streams' retention.
func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, _ := newAgg(t, 1, 10, nil)
		if err := a.Ingest(ctx, "old", report("1.0.0", 5, 0, 1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(dhealth.Retention / 2)
		if err := a.Ingest(ctx, "old", report("1.0.0", 5, 0, 1)); err != nil { // still active
			t.Fatal(err)
		}
		time.Sleep(dhealth.Retention/2 + time.Hour)
		if err := a.Ingest(ctx, "new", report("1.0.0", 5, 0, 1)); err != nil {
			t.Fatal(err)
		}
		if n := a.Devices("eta", "1.0.0"); n != 1 {
			t.Fatalf("%d devices after the retention; want only the new one", n)
		}
	})
}
