package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/experiment"
	dhealth "github.com/sextant-ml/sextant/device/health"
)

// cupedRun is one simulated A/B test of a window: phones with hit rates
// spread over [0.35, 0.9] report preDays days on 1.0.0, the rollout
// starts (baseline), the window opens, and for postDays days a random
// half runs 2.0.0 (every phone's rate + effect), drawing fresh outcomes
// (10–30 a day) every day. It returns the CUPED and the raw analyses of
// the window, each from its own release at ε eps.
func cupedRun(t testing.TB, phones int, effect, eps float64, seed uint64) (cuped, raw experiment.Result, arms CUPEDArms) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 11))
	clk := clock.NewManual(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
	a, l := newUnitAgg(t, clk, eps)
	p, cand := make([]float64, phones), make([]bool, phones)
	for i := range p {
		p[i], cand[i] = 0.35+0.55*rng.Float64(), rng.Float64() < 0.5
	}
	day := func(treat bool) {
		for i := range p {
			v, q := "1.0.0", p[i]
			if treat && cand[i] {
				v, q = "2.0.0", p[i]+effect
			}
			n := 10 + rng.Int64N(21)
			var k int64
			for range n {
				if rng.Float64() < q {
					k++
				}
			}
			if err := a.Ingest(ctx, fmt.Sprint("p", i), outcomes(v, n, k)); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(24 * time.Hour)
	}
	for range 3 {
		day(false)
	}
	a.StartRollout(unitStatus)
	w := a.OpenWindow("eta", "1.0.0", "2.0.0")
	for range 2 {
		day(true)
	}
	before := l.Spent(dhealth.StreamQuality, clk.Now())
	arms, err := a.WindowCUPEDArms(ctx, w, "r", MetricAcc1, "1.0.0", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Spent(dhealth.StreamQuality, clk.Now()) - before; got != eps {
		t.Fatalf("the CUPED release charged ε %v, want %v", got, eps)
	}
	ua, err := a.WindowUnitArms(ctx, w, MetricAcc1, "1.0.0", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if cuped, err = experiment.Analyze(experiment.MetricMean, arms.Current.Adjusted, arms.Candidate.Adjusted, experiment.Options{Alpha: 0.05}); err != nil {
		t.Fatal(err)
	}
	if raw, err = experiment.Analyze(experiment.MetricMean, ua.Current, ua.Candidate, experiment.Options{Alpha: 0.05}); err != nil {
		t.Fatal(err)
	}
	return cuped, raw, arms
}

// TestWindowCUPEDArms: without noise (ε 1000) the adjusted arms are the
// phones' window rates minus their own pre-period rates, the raw means
// their window rates; without a baseline there is no CUPED release.
func TestWindowCUPEDArms(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
	a, l := newUnitAgg(t, clk, 1000)
	rate := func(i int) int64 { return int64(4 + i%13) } // of 20
	for i := range 400 {
		if err := a.Ingest(ctx, fmt.Sprint("p", i), outcomes("1.0.0", 20, rate(i))); err != nil {
			t.Fatal(err)
		}
	}
	w := a.OpenWindow("eta", "1.0.0", "2.0.0")
	if _, err := a.WindowCUPEDArms(ctx, w, "r", MetricAcc1, "1.0.0", "2.0.0"); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("without a baseline: %v, want ErrNoBaseline", err)
	}
	if s := l.Spent(dhealth.StreamQuality, clk.Now()); s != 0 {
		t.Fatalf("a refused release spent ε %v", s)
	}
	a.StartRollout(unitStatus)
	w = a.OpenWindow("eta", "1.0.0", "2.0.0")
	var rc, rt float64
	for i := range 400 {
		v, k := "1.0.0", rate(i)
		if i%4 == 0 {
			v, k = "2.0.0", k-2 // −0.1
			rt += float64(k) / 20
		} else {
			rc += float64(k) / 20
		}
		if err := a.Ingest(ctx, fmt.Sprint("p", i), outcomes(v, 20, k)); err != nil {
			t.Fatal(err)
		}
	}
	arms, err := a.WindowCUPEDArms(ctx, w, "r", MetricAcc1, "1.0.0", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	c, d := arms.Current, arms.Candidate
	if math.Abs(c.Adjusted.N-300) > 1 || math.Abs(d.Adjusted.N-100) > 1 ||
		math.Abs(c.Adjusted.Mean()) > 0.002 || math.Abs(d.Adjusted.Mean()+0.1) > 0.002 ||
		c.Adjusted.Variance() > 1e-3 || d.Adjusted.Variance() > 1e-3 {
		t.Fatalf("adjusted arms %+v / %+v, want 300 phones at 0 and 100 at −0.1, no spread", c.Adjusted, d.Adjusted)
	}
	if math.Abs(c.Raw.Mean()-rc/300) > 0.002 || math.Abs(d.Raw.Mean()-rt/100) > 0.002 {
		t.Fatalf("raw means %.4f, %.4f, want %.4f, %.4f", c.Raw.Mean(), d.Raw.Mean(), rc/300, rt/100)
	}
	if _, err := a.WindowCUPEDArms(ctx, w, "r", MetricLatencyP95, "1.0.0", "2.0.0"); err == nil {
		t.Fatal("a mean metric was released with a proportion's covariate")
	}
}

// TestWindowCUPEDCoverage checks the CUPED A/B interval by simulation
// with the DP noise on (Laplace, ε 2 a release, 1 000 phones split
// 50/50, a true effect of +0.01): its 95 % interval covers the truth at
// about the nominal rate, and it is much narrower than the raw per-phone
// interval of the same window, since a phone's pre-period rate predicts
// its window rate (the phones' rates spread over [0.35, 0.9]).
func TestWindowCUPEDCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	const runs, effect = 200, 0.01
	var miss, rawMiss int
	var wc, wr, sd, sdRaw float64
	for r := range runs {
		c, raw, _ := cupedRun(t, 1000, effect, 2, uint64(r))
		if c.CILow > effect || c.CIHigh < effect {
			miss++
		}
		if raw.CILow > effect || raw.CIHigh < effect {
			rawMiss++
		}
		wc += (c.CIHigh - c.CILow) / runs
		wr += (raw.CIHigh - raw.CILow) / runs
		sd += (c.Effect - effect) * (c.Effect - effect) / runs
		sdRaw += (raw.Effect - effect) * (raw.Effect - effect) / runs
	}
	sd, sdRaw = math.Sqrt(sd), math.Sqrt(sdRaw)
	t.Logf("CUPED: %d/%d missed, mean width %.4f, error rms %.4f; raw: %d/%d missed, width %.4f, error rms %.4f",
		miss, runs, wc, sd, rawMiss, runs, wr, sdRaw)
	// 5 % of 200 is 10 (sd 3.1): more than 18 misses is a broken interval.
	if miss > 18 {
		t.Errorf("the CUPED interval missed the truth %d times in %d", miss, runs)
	}
	// The interval's half-width must match the spread it claims (±1.96 sd).
	if wc/2 < 1.96*0.8*sd {
		t.Errorf("CUPED half-width %.4f is below 1.96 × 0.8 × the estimate's rms error %.4f", wc/2, sd)
	}
	if wc > 0.7*wr {
		t.Errorf("CUPED width %.4f is not much narrower than the raw %.4f", wc, wr)
	}
}
