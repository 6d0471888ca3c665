package health

import (
	"context"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/delivery/experiment"
	dhealth "github.com/sextant-ml/sextant/device/health"
)

// TestContinualBudgetOverADay: gates looking every 10 s for a whole day
// charge each (rollout, metric) the stream's ε once, when its day's counters
// start — 3 rollouts × 2 metrics at ε 0.5 spend 1.5 on each of the two
// streams, not 0.5 per look — and the next day starts new counters, charged
// again. The same looks as fresh releases would have exhausted a budget
// of 200 after 400 of the day's 8 640 looks.
func TestContinualBudgetOverADay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const eps = 0.5
		a, l := newAgg(t, eps, 200, nil)
		a.cfg.MinInterval = 10 * time.Second
		ingest := func(day int) {
			for d := range 300 {
				v := "1.0.0"
				if d%3 == 0 {
					v = "2.0.0"
				}
				if err := a.Ingest(ctx, fmt.Sprintf("dev%d", d), report(v, 10, 1, 8)); err != nil {
					t.Fatal(err)
				}
			}
		}
		ingest(0)
		cost, err := a.TreeCost(dhealth.StreamInference)
		if err != nil || math.Abs(cost-eps) > 1e-12 {
			t.Fatalf("a Laplace tree costs %v (%v), want the stream's ε %v", cost, err, eps)
		}
		looks := 0
		for range 24 * 360 {
			for _, id := range []string{"r1", "r2", "r3"} {
				for _, m := range []string{MetricInferenceErrors, MetricAcc1} {
					if _, err := a.Arms(ctx, id, m); err != nil {
						t.Fatalf("look %d: %v", looks, err)
					}
				}
			}
			looks++
			if looks%360 == 0 {
				ingest(0) // an hour's check-ins
			}
			time.Sleep(10 * time.Second)
		}
		// The loop ended at the next midnight: the first day's spend.
		yesterday := time.Now().Add(-time.Hour)
		for _, s := range []string{dhealth.StreamInference, dhealth.StreamQuality} {
			if got := l.Spent(s, yesterday); math.Abs(got-3*eps) > 1e-9 {
				t.Errorf("%s: %d looks by 3 rollouts spent ε %v in a day, want 3 × %v", s, looks, got, eps)
			}
		}
		if _, err := a.Arms(ctx, "r1", MetricInferenceErrors); err != nil {
			t.Fatal(err)
		}
		if got := l.Spent(dhealth.StreamInference, time.Now()); math.Abs(got-eps) > 1e-9 {
			t.Errorf("the next day's first look spent %v, want %v", got, eps)
		}
		s := a.streams[[2]string{"r1", MetricInferenceErrors}]
		if s.counters[0].Releases() != 1 || s.closed[0].NoiseVariance == 0 {
			t.Errorf("day 2: %d releases, closed variance %v", s.counters[0].Releases(), s.closed[0].NoiseVariance)
		}
	})
}

// TestContinualArms: the arms count each device's first MaxEvents events a
// day over both versions, report the variance of the tree's release
// (popcount(t) nodes) and carry the earlier days' final releases.
func TestContinualArms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// ε 1e4 makes the noise small enough to read the counts.
		a, l := newAgg(t, 1e4, 1e5, nil)
		for d := range 100 {
			v, k := "1.0.0", int64(2)
			if d < 40 {
				v, k = "2.0.0", 10
			}
			if err := a.Ingest(ctx, fmt.Sprint("dev", d), report(v, 100, k, 8)); err != nil {
				t.Fatal(err)
			}
		}
		// dev0 moved: 150 more events on the current version, but only
		// 100 of them fit its day's cap of 200 (10 % of them errors, so
		// 10 outcomes are counted).
		if err := a.Ingest(ctx, "dev0", report("1.0.0", 150, 15, 8)); err != nil {
			t.Fatal(err)
		}
		arms, err := a.Arms(ctx, "r", MetricInferenceErrors)
		if err != nil {
			t.Fatal(err)
		}
		near := func(s experiment.Summary, n, k float64) bool {
			return math.Abs(s.N-n) <= 4 && math.Abs(s.Sum-k) < 4
		}
		if !near(arms.Current, 6100, 130) || !near(arms.Candidate, 4000, 400) {
			t.Fatalf("arms %+v, want current 6 100 events with 130 errors, candidate 4 000 with 400", arms)
		}
		sc, err := a.cfg.Registry.Lookup(dhealth.StreamInference)
		if err != nil {
			t.Fatal(err)
		}
		at := func(release int) float64 {
			v, err := a.continual(sc).VarianceAt(release)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		// Both counts (with and without the outcome) have variance v.
		check := func(v float64, arms experiment.Summary, n, k float64) {
			t.Helper()
			p := k / n
			want := ((1-p)*(1-p) + p*p) * v / (n * n)
			if math.Abs(arms.NoiseVariance/want-1) > 0.01 {
				t.Errorf("noise variance %v, want ((1−p)²+p²)·V/N² = %v", arms.NoiseVariance, want)
			}
		}
		check(at(1), arms.Candidate, 4000, 400)
		for release := 2; release <= 3; release++ {
			time.Sleep(a.cfg.MinInterval)
			if arms, err = a.Arms(ctx, "r", MetricInferenceErrors); err != nil {
				t.Fatal(err)
			}
		}
		check(at(3), arms.Candidate, 4000, 400)
		// Tomorrow: yesterday's final release plus today's tree.
		time.Sleep(24 * time.Hour)
		for d := range 40 {
			if err := a.Ingest(ctx, fmt.Sprint("dev", d), report("2.0.0", 50, 5, 8)); err != nil {
				t.Fatal(err)
			}
		}
		arms, err = a.Arms(ctx, "r", MetricInferenceErrors)
		if err != nil {
			t.Fatal(err)
		}
		if !near(arms.Candidate, 6000, 600) {
			t.Fatalf("day 2 candidate %+v, want 6 000 events with 600 errors", arms.Candidate)
		}
		// Day 1 closed with its 4th release; day 2's first release.
		check(at(4)+at(1), arms.Candidate, 6000, 600)
		if got := l.Spent(dhealth.StreamInference, time.Now()); got != 1e4 {
			t.Fatalf("day 2 spent %v", got)
		}
	})
}

// TestContinualNoiseIsHonest: across independent streams fed the same
// counts, the candidate's proportion varies as its reported NoiseVariance
// says, at the first release and at the seventh.
func TestContinualNoiseIsHonest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		a, _ := newAgg(t, 2, 1e9, nil)
		for d := range 2000 {
			v := "1.0.0"
			if d%2 == 0 {
				v = "2.0.0"
			}
			if err := a.Ingest(ctx, fmt.Sprint("dev", d), report(v, 100, int64(d%40), 8)); err != nil {
				t.Fatal(err)
			}
		}
		const runs = 400
		var first, seventh []float64
		var v1, v7 float64
		for r := range runs {
			id := fmt.Sprint("r", r)
			for release := 1; release <= 7; release++ {
				arms, err := a.Arms(ctx, id, MetricInferenceErrors)
				if err != nil {
					t.Fatal(err)
				}
				p := arms.Candidate.Sum / arms.Candidate.N
				switch release {
				case 1:
					first, v1 = append(first, p), v1+arms.Candidate.NoiseVariance/runs
				case 7:
					seventh, v7 = append(seventh, p), v7+arms.Candidate.NoiseVariance/runs
				}
				// Each stream's next release: move its clock on.
				a.streams[[2]string{id, MetricInferenceErrors}].at = time.Time{}
			}
		}
		for _, c := range []struct {
			name string
			x    []float64
			v    float64
		}{{"release 1", first, v1}, {"release 7", seventh, v7}} {
			emp := variance(c.x)
			// Laplace kurtosis 6: relative SE √(5/runs) ≈ 11 %; allow 4.
			if math.Abs(emp/c.v-1) > 0.45 {
				t.Errorf("%s: empirical variance of p̂ %.3g, reported %.3g", c.name, emp, c.v)
			}
			t.Logf("%s: p̂ noise variance empirical %.3g, reported %.3g", c.name, emp, c.v)
		}
		// Release 7 sums three logarithmic terms and two epoch-2 nodes of
		// twice their scale: 11 terms' variance to release 1's one (up to
		// the noisy p̂ and N̂ each is evaluated at).
		if r := v7 / v1; math.Abs(r-11) > 0.3 {
			t.Errorf("release 7 / release 1 reported variance %v, want 11", r)
		}
	})
}

func variance(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return s / float64(len(x)-1)
}
