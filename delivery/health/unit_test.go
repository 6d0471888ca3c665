package health

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

var unitStatus = rollout.Status{Spec: rollout.Spec{ID: "r", Model: "eta", Current: "1.0.0", Version: "2.0.0"}}

// newUnitAgg is an aggregator on a manual clock with ε eps per release
// (and a daily budget of 2·eps) on every health stream.
func newUnitAgg(t testing.TB, clk clock.Clock, eps float64) (*Aggregator, *telemetry.Ledger) {
	t.Helper()
	reg, err := telemetry.NewRegistry(dhealth.SchemasWith(eps, 2*eps)...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Registry: reg, Ledger: l, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	a.Bind(fixedRollouts{})
	return a, l
}

// outcomes is a report of n labeled predictions of which k were right.
func outcomes(version string, n, k int64) *dhealth.Report {
	return &dhealth.Report{Entries: []dhealth.Entry{{Model: "eta", Version: version, Labeled: n, Top1: k, Inferences: n}}}
}

// TestUnitArms: a per-device metric's arms are the phones' rates in each
// period minus their own pre-rollout rates; a period is released (and
// charged) once; without a baseline the rates count raw.
func TestUnitArms(t *testing.T) {
	ctx := context.Background()
	for _, withBase := range []bool{true, false} {
		t.Run(fmt.Sprint("baseline ", withBase), func(t *testing.T) {
			clk := clock.NewManual(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
			// ε 1000: the noise is negligible, the arithmetic shows.
			a, l := newUnitAgg(t, clk, 1000)
			rate := func(i int) int64 { return int64(4 + i%13) } // of 20: 0.2 … 0.8
			for i := range 400 {
				if err := a.Ingest(ctx, fmt.Sprint("p", i), outcomes("1.0.0", 20, rate(i))); err != nil {
					t.Fatal(err)
				}
			}
			if withBase {
				a.StartRollout(unitStatus)
			}
			if spent := l.Spent(dhealth.StreamQuality, clk.Now()); spent != 0 {
				t.Fatalf("taking the baseline spent ε %v", spent)
			}
			// A quarter of the phones run the candidate, 2 hits fewer in
			// 20 (−0.1); the rest repeat their pre-period.
			for day := range 2 {
				for i := range 400 {
					v, k := "1.0.0", rate(i)
					if i%4 == 0 {
						v, k = "2.0.0", k-2
					}
					if err := a.Ingest(ctx, fmt.Sprint("p", i), outcomes(v, 20, k)); err != nil {
						t.Fatal(err)
					}
				}
				clk.Advance(24 * time.Hour)
				arms, err := a.Arms(ctx, "r", MetricAcc1Device)
				if err != nil {
					t.Fatal(err)
				}
				if got := l.Spent(dhealth.StreamQuality, clk.Now()); got != 1000 {
					t.Fatalf("day %d: spent ε %v, want one release's 1000", day, got)
				}
				again, err := a.Arms(ctx, "r", MetricAcc1Device)
				if err != nil || again != arms || l.Spent(dhealth.StreamQuality, clk.Now()) != 1000 {
					t.Fatalf("a look within the period made a new release: %+v, %v", again, err)
				}
				wantC, wantT := 0.0, -0.1
				if !withBase {
					// The raw rates: mean of 4…16 of 20 over the phones.
					var sc, st float64
					for i := range 400 {
						if i%4 == 0 {
							st += float64(rate(i)-2) / 20
						} else {
							sc += float64(rate(i)) / 20
						}
					}
					wantC, wantT = sc/300, st/100
				}
				if math.Abs(arms.Current.N-300) > 1 || math.Abs(arms.Candidate.N-100) > 1 ||
					math.Abs(arms.Current.Mean()-wantC) > 0.002 || math.Abs(arms.Candidate.Mean()-wantT) > 0.002 {
					t.Fatalf("day %d arms %+v, want 300 phones at %.3f and 100 at %.3f", day, arms, wantC, wantT)
				}
				if withBase && (arms.Current.Variance() > 1e-3 || arms.Candidate.Variance() > 1e-3) {
					// Every phone's change is exactly its arm's: no spread.
					t.Fatalf("day %d: per-phone variances %g, %g, want about 0", day, arms.Current.Variance(), arms.Candidate.Variance())
				}
				if !withBase {
					continue
				}
				r, err := rollout.Evaluate(&rollout.Gate{Metric: MetricAcc1Device, Kind: experiment.MetricMean,
					Direction: rollout.HigherIsBetter, MaxRegression: 0.03}, arms)
				if err != nil || r.Verdict != rollout.Fail || math.Abs(r.Regression-0.1) > 0.003 {
					t.Fatalf("day %d gate %+v, %v: want the 0.1 regression to fail", day, r, err)
				}
			}
		})
	}
}

// unitWorld is a simulated fleet for the coverage test.
type unitWorld struct {
	name   string
	phones int
	// repeat: every phone predicts the same rows each day (as the demo's
	// phones replay their held-out week), so its days are perfectly
	// correlated; otherwise each day draws fresh outcomes.
	repeat bool
	// churn is the share of a phone's rows on which the candidate's
	// outcome is drawn afresh (a different model is right on different
	// rows), keeping its hit rate p + effect.
	churn  float64
	effect float64 // the candidate's change of every phone's hit rate
}

// simulate runs one rollout of w: a pre-period day on 1.0.0, the start,
// then days at a 20 % candidate share and from day 4 on at 50 %, each
// day the phones' reports, then a look. It returns the gate's regression
// interval per day ((0, 0, false) before it can form one).
func simulate(t testing.TB, w unitWorld, days int, seed uint64) (lo, hi, est []float64, se float64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	clk := clock.NewManual(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
	a, _ := newUnitAgg(t, clk, 2)
	type phone struct {
		p, bucket   float64
		rows, rows2 []float64
	}
	ps := make([]phone, w.phones)
	for i := range ps {
		ps[i] = phone{p: 0.35 + 0.55*rng.Float64(), bucket: rng.Float64(), rows: make([]float64, 20), rows2: make([]float64, 20)}
		for r := range ps[i].rows {
			ps[i].rows[r] = rng.Float64()
			ps[i].rows2[r] = ps[i].rows[r]
			if rng.Float64() < w.churn {
				ps[i].rows2[r] = rng.Float64()
			}
		}
	}
	day := func(cand func(i int) bool) {
		for i, ph := range ps {
			v, p, rows := "1.0.0", ph.p, ph.rows
			if cand(i) {
				v, p, rows = "2.0.0", ph.p+w.effect, ph.rows2
			}
			var n, k int64
			if w.repeat {
				for _, u := range rows {
					n++
					if u < p {
						k++
					}
				}
			} else {
				n = 10 + rng.Int64N(21)
				for range n {
					if rng.Float64() < p {
						k++
					}
				}
			}
			if err := a.Ingest(ctx, fmt.Sprint("p", i), outcomes(v, n, k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	day(func(int) bool { return false })
	a.StartRollout(unitStatus)
	g := rollout.Gate{Metric: MetricAcc1Device, Kind: experiment.MetricMean, Direction: rollout.HigherIsBetter,
		MaxRegression: 0.03, MinUnits: 50, Tuning: float64(w.phones)}
	for d := 1; d <= days; d++ {
		share := 0.2
		if d >= 4 {
			share = 0.5
		}
		day(func(i int) bool { return ps[i].bucket < share })
		clk.Advance(24 * time.Hour)
		arms, err := a.Arms(ctx, "r", MetricAcc1Device)
		if err != nil {
			t.Fatal(err)
		}
		r, err := rollout.Evaluate(&g, arms)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi, est = append(lo, r.Low), append(hi, r.High), append(est, r.Regression)
		if r.Reason != "" {
			lo[d-1], hi[d-1] = math.Inf(-1), math.Inf(1)
		}
		if d == days {
			// The standard error behind the interval.
			m, err := experiment.Means(arms.Current, arms.Candidate, experiment.Options{})
			if err != nil {
				t.Fatal(err)
			}
			se = m.SE
		}
	}
	return lo, hi, est, se
}

// TestUnitGateCoverage checks the per-device gate's always-valid interval
// by simulation, with the DP noise on (Laplace, ε 2 a release): over R
// rollouts of known effect, the share whose interval missed the truth on
// any of the daily looks stays within α = 5 %, and the standard error the
// gate reports is not below the spread of its estimate across rollouts
// (the variance is not understated). It covers an A/A test (effect 0)
// and an A/B test with a 3-point drop, on phones that repeat their days
// (the demo's) and on phones with fresh outcomes every day.
func TestUnitGateCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	const days, runs = 8, 100
	for _, w := range []unitWorld{
		{"A/A repeating days", 600, true, 0.2, 0},
		{"A/B −3 pts repeating days", 600, true, 0.2, -0.03},
		{"A/A fresh days", 600, false, 0, 0},
		{"A/B −3 pts fresh days", 600, false, 0, -0.03},
	} {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			truth := -w.effect // the regression
			missed, passed, failed := 0, 0, 0
			var last, width []float64
			var mse float64
			for r := range runs {
				lo, hi, est, se := simulate(t, w, days, uint64(r+1))
				mse += se / runs
				miss := false
				for d := range lo {
					if lo[d] > truth || hi[d] < truth {
						miss = true
					}
				}
				if miss {
					missed++
				}
				switch {
				case lo[days-1] > 0.03:
					failed++
				case hi[days-1] <= 0.03:
					passed++
				}
				last = append(last, est[days-1])
				width = append(width, hi[days-1]-lo[days-1])
			}
			var mean, sd, mw float64
			for i := range last {
				mean += last[i] / runs
				mw += width[i] / runs
			}
			for _, x := range last {
				sd += (x - mean) * (x - mean) / (runs - 1)
			}
			sd = math.Sqrt(sd)
			t.Logf("%d phones, %d rollouts: interval missed the truth %.3f at some look in %d; day %d: estimate %.4f, sd across rollouts %.4f, mean reported SE %.4f, mean interval width %.4f; non-inferiority at 0.03 certified %d, failed %d",
				w.phones, runs, truth, missed, days, mean, sd, mse, mw, passed, failed)
			// α = 5 % over all looks; 100 rollouts allow sampling slack of
			// about 2 standard errors (√(100·0.05·0.95) ≈ 2.2).
			if missed > 9 {
				t.Errorf("the interval missed the truth in %d of %d rollouts, more than α = 5 %% allows", missed, runs)
			}
			// The reported SE must not understate the estimate's spread
			// (which 100 rollouts measure to about ±15 %).
			if mse < 0.8*sd {
				t.Errorf("reported SE %.4f < 0.8 × the estimate's sd %.4f across rollouts: the variance is understated", mse, sd)
			}
			if math.Abs(mean-truth) > 3*sd/math.Sqrt(runs)+0.002 {
				t.Errorf("estimate %.4f is biased: truth %.4f (sd %.4f)", mean, truth, sd)
			}
		})
	}
}
