package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/delivery/experiment"
	dhealth "github.com/sextant-ml/sextant/device/health"
)

// TestWindowArms: an experiment window counts only what devices reported
// after it opened. Before it, the current version had bad days (10 %
// errors) and the candidate worse ones (50 %, at an earlier small stage);
// within it both run at 2 %, and the window's arms say so while the
// running totals do not.
func TestWindowArms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, l := newAgg(t, 8, 100, nil)
		ingest := func(from, to int, version string, n, k int64) {
			t.Helper()
			for d := from; d < to; d++ {
				if err := a.Ingest(ctx, fmt.Sprint("dev", d), report(version, n, k, 8)); err != nil {
					t.Fatal(err)
				}
			}
		}
		ingest(0, 300, "1.0.0", 50, 5)
		ingest(0, 50, "2.0.0", 50, 25)
		w := a.OpenWindow("eta", "1.0.0", "2.0.0")
		if w.Model() != "eta" || !w.Opened().Equal(time.Now()) {
			t.Fatalf("window %s opened %v", w.Model(), w.Opened())
		}
		spent := l.Spent(dhealth.StreamInference, time.Now())
		if spent != 0 {
			t.Fatalf("opening a window spent ε %v", spent)
		}
		// In the window: 100 phones on the candidate (50 of them there
		// before), 150 on the current version, 50 silent.
		ingest(0, 100, "2.0.0", 50, 1)
		ingest(100, 250, "1.0.0", 50, 1)

		arms, err := a.WindowArms(ctx, w, MetricInferenceErrors, "1.0.0", "2.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Spent(dhealth.StreamInference, time.Now()); got != 8 {
			t.Fatalf("a window release spent ε %v, want the stream's 8", got)
		}
		// The noise is Laplace on the event count and the error count,
		// each with scale b = MaxEvents/(ε/2) = 50 events: |noise| > 8b
		// has probability e⁻⁸ ≈ 3·10⁻⁴ (a bound of 200 = 4b failed 1 run
		// in 18). The mean's bound is the same eight scales in its
		// standard deviation (√2·b).
		b := float64(a.cfg.MaxEvents) / (8.0 / 2)
		near := func(s experiment.Summary, n, p float64) bool {
			return math.Abs(s.N-n) < 8*b && math.Abs(s.Sum/s.N-p) < 8/math.Sqrt2*math.Sqrt(s.NoiseVariance)+0.005
		}
		if !near(arms.Current, 150*50, 0.02) || !near(arms.Candidate, 100*50, 0.02) {
			t.Fatalf("window arms %+v, want 7500 and 5000 events at 2 %%", arms)
		}
		// The running totals mix in the days before the window.
		all, err := a.Arms(ctx, "r", MetricInferenceErrors)
		if err != nil {
			t.Fatal(err)
		}
		if near(all.Current, 150*50, 0.02) || near(all.Candidate, 100*50, 0.02) {
			t.Fatalf("whole-total arms %+v look like the window's: the test does not bite", all)
		}

		// With the device as the unit: ~150 and ~100 phones, each at 2 %.
		units, err := a.WindowUnitArms(ctx, w, MetricInferenceErrors, "1.0.0", "2.0.0")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			s experiment.Summary
			n float64
		}{{units.Current, 150}, {units.Candidate, 100}} {
			if math.Abs(c.s.N-c.n) > 20 || math.Abs(c.s.Mean()-0.02) > 0.02 || c.s.SumSquares < 0 {
				t.Errorf("per-device arm %+v, want about %v phones at 0.02", c.s, c.n)
			}
		}
		if _, err := a.WindowUnitArms(ctx, w, MetricLatencyP95, "1.0.0", "2.0.0"); err == nil {
			t.Error("per-device latency p95 over a window was accepted")
		}

		// Latency histograms difference too; memory peaks do not.
		if _, err := a.WindowArms(ctx, w, MetricLatencyP95, "1.0.0", "2.0.0"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.WindowArms(ctx, w, MetricMemory, "1.0.0", "2.0.0"); !errors.Is(err, ErrNotWindowed) {
			t.Fatalf("memory over a window: %v", err)
		}
		if _, err := a.WindowArms(ctx, w, "nope", "1.0.0", "2.0.0"); !errors.Is(err, ErrUnknownMetric) {
			t.Fatalf("unknown metric: %v", err)
		}
		if _, err := a.WindowArms(ctx, w, MetricInferenceErrors, "1.0.0", "3.0.0"); err == nil {
			t.Fatal("a version the window did not snapshot was accepted")
		}
		// Each window release is charged: the day's 100 runs out.
		var last error
		for range 20 {
			if _, last = a.WindowArms(ctx, w, MetricInferenceErrors, "1.0.0", "2.0.0"); last != nil {
				break
			}
		}
		if !BudgetExhausted(last) {
			t.Fatalf("window releases past the daily budget: %v", last)
		}
	})
}
