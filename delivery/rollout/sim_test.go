package rollout_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/health"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/delivery/targeting"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// The Bar simulation (issue 8), through the DP aggregator: devices'
// health reports → delivery/health.Aggregator (continual central-DP
// release, Laplace binary trees) → the gates → the controller, on
// synctest's clock.
//
// World. A rollout targets a fleet of simFleet eligible devices. Every
// device checks in every 20 s (staggered), reporting what it served
// since its last check-in under the version the director gave it then —
// Poisson(12) inferences and Poisson(10) labeled next-destination
// predictions — and takes the version the director answers now. The
// aggregator counts a device's first simMaxEvents events of each kind a
// day (the cap its DP sensitivity rests on); once a device has sent that
// many of both, nothing it sends can reach the gates that day, and the
// simulation stops simulating it. That pace is compressed — in the field
// check-ins are hours apart — but the DP noise floor depends on how many
// devices have reported, not on when.
//
// Breach. A gate breach is the first evaluation at which the same gate,
// fed the exact (un-noised) sums of the reports the aggregator received,
// fails: the moment the evidence exists. Time to rollback is from it to
// the controller's rollback, after which the director serves the
// previous version.
//
// Run: go test ./delivery/rollout -run TestBarSimulation (simBarRollouts
// rollouts per scenario; -short skips it); SEXTANT_BAR_ROLLOUTS=200 for
// the bar (27 min on two loaded cores). SEXTANT_BAR_TABLE=1 runs
// TestBarTable, the detection rate and time to rollback across fleet
// sizes and ε. Figures: docs/rollouts.md.

const (
	simCheckIn   = 20 // seconds between a device's check-ins
	simInfer     = 12.0
	simLabeled   = 10.0
	simMaxEvents = 16
	simInterval  = 10 * time.Second
)

// truth is one version's behaviour.
type truth struct{ errRate, acc float64 }

var baseline = truth{errRate: 0.01, acc: 0.70}

// world is one configuration of the simulation.
type world struct {
	fleet int
	// eps is each health stream's ε per rollout and UTC day (one binary
	// tree per rollout, metric and day; its daily budget is exactly that).
	eps float64
}

var simGates = []rollout.Gate{
	{Metric: health.MetricInferenceErrors, Kind: experiment.MetricProportion, MaxRegression: 0.005, Tuning: 1e5, MinUnits: 2000},
	{Metric: health.MetricAcc1, Kind: experiment.MetricProportion, Direction: rollout.HigherIsBetter, MaxRegression: 0.01, Tuning: 1e5, MinUnits: 2000},
}

func simSpec(i int) rollout.Spec {
	return rollout.Spec{
		ID: fmt.Sprintf("r%03d", i), Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Stages: []rollout.Stage{{Share: 1000, Bake: time.Minute}, {Share: 2500, Bake: time.Minute},
			{Share: 5000, Bake: time.Minute}},
		Gates: simGates,
	}
}

// outcome is one simulated rollout's end.
type outcome struct {
	state    rollout.State
	promoted bool // held past its first stage
	// breach is when the exact-data gate first failed (-1: never), end
	// when the rollout rolled back or completed, both from the start.
	breach, end time.Duration
	reason      string
	skipped     bool // completed without passing each stage in order
	stillServed bool // a member still got the candidate after rollback
}

type device struct {
	unit, version string
	sent          [2]int64 // inferences, labeled sent today
}

// poisson draws Poisson(mu) by Knuth's method (mu is small).
func poisson(r *rand.Rand, mu float64) int64 {
	l, k, p := math.Exp(-mu), int64(0), 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func binomial(r *rand.Rand, n int64, p float64) int64 {
	var k int64
	for range n {
		if r.Float64() < p {
			k++
		}
	}
	return k
}

// simulate runs one rollout of candidate in world w for at most horizon.
func simulate(t *testing.T, w world, candidate truth, seed uint64, horizon time.Duration) outcome {
	var out outcome
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		reg, err := telemetry.NewRegistry(dhealth.SchemasWith(w.eps, w.eps)...)
		if err != nil {
			t.Fatal(err)
		}
		ledger, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "ledger.json"))
		if err != nil {
			t.Fatal(err)
		}
		agg, err := health.New(health.Config{Registry: reg, Ledger: ledger, Clock: clock.Real,
			MaxEvents: simMaxEvents, MinInterval: simInterval})
		if err != nil {
			t.Fatal(err)
		}
		c := rollout.New(clock.Real, agg, rollout.Options{Interval: simInterval})
		agg.Bind(c)
		spec := simSpec(int(seed))
		if _, err := c.Create(spec); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, uint64(w.fleet)))
		devs := make([]device, w.fleet)
		for i := range devs {
			devs[i].unit = fmt.Sprint("u", i)
		}
		// exact[version] are the un-noised sums the oracle gate reads.
		exact := map[string]*[2]experiment.Summary{"1.0.0": {}, "2.0.0": {}}
		start := time.Now()
		if err := c.Start(spec.ID, "sim"); err != nil {
			t.Fatal(err)
		}
		go c.Run(ctx)
		out.breach = -1
		rep := &dhealth.Report{Entries: make([]dhealth.Entry, 1)}
		for sec := 0; time.Duration(sec)*time.Second < horizon; sec++ {
			for i := sec % simCheckIn; i < len(devs); i += simCheckIn {
				d := &devs[i]
				if d.sent[0] >= simMaxEvents && d.sent[1] >= simMaxEvents {
					continue // nothing more can count today
				}
				if d.version != "" {
					tr := baseline
					if d.version == spec.Version {
						tr = candidate
					}
					n, l := poisson(rng, simInfer), poisson(rng, simLabeled)
					k, m := binomial(rng, n, tr.errRate), binomial(rng, l, tr.acc)
					rep.Entries[0] = dhealth.Entry{Model: spec.Model, Version: d.version,
						Inferences: n, InferenceErrors: k, Labeled: l, Top1: m}
					if err := agg.Ingest(ctx, d.unit, rep); err != nil {
						t.Fatal(err)
					}
					// The oracle sees what the aggregator counts: the
					// device's first simMaxEvents events of each kind.
					e := exact[d.version]
					addCapped(&e[0], &d.sent[0], n, k)
					addCapped(&e[1], &d.sent[1], l, m)
				}
				d.version = c.Version(spec.Model, targeting.Attributes{}, d.unit)
			}
			if sec%10 == 0 && out.breach < 0 {
				for _, g := range simGates {
					i := 0
					if g.Metric == health.MetricAcc1 {
						i = 1
					}
					res, err := rollout.Evaluate(&g, rollout.Arms{Current: exact["1.0.0"][i], Candidate: exact["2.0.0"][i]})
					if err == nil && res.Verdict == rollout.Fail {
						out.breach = time.Duration(sec) * time.Second
					}
				}
			}
			time.Sleep(time.Second)
			if st, _ := c.Status(spec.ID); st.State == rollout.RolledBack || st.State == rollout.Completed {
				break
			}
		}
		cancel()
		st, err := c.Status(spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		out.state, out.promoted = st.State, st.Stage > 0
		last := st.History[len(st.History)-1]
		out.end, out.reason = last.At.Sub(start), last.Reason

		switch st.State {
		case rollout.Completed:
			var shares []uint32
			for _, r := range st.History[1:] {
				shares = append(shares, r.Share)
			}
			out.skipped = fmt.Sprint(shares) != "[1000 2500 5000 10000]"
		case rollout.RolledBack:
			for u := range 200 {
				if c.Version(spec.Model, targeting.Attributes{}, fmt.Sprint("u", u)) != spec.Current {
					out.stillServed = true
				}
			}
		}
	})
	return out
}

// addCapped adds n events with k outcomes to s, counting only the first
// simMaxEvents of a device (sent counts them), outcomes scaled alike.
func addCapped(s *experiment.Summary, sent *int64, n, k int64) {
	take := min(n, simMaxEvents-*sent)
	if take <= 0 {
		return
	}
	if take < n {
		k = int64(math.Round(float64(k) * float64(take) / float64(n)))
	}
	*sent += take
	s.N += float64(take)
	s.Sum += float64(k)
}

// tally summarizes a scenario's rollouts.
type tally struct {
	n, rolledBack, completed, held, promoted int
	// caught are rollbacks within 60 s of the breach (or before it);
	// delays the rollbacks' times from the breach, sinceStart from the
	// first stage's start.
	caught             int
	delays, sinceStart []time.Duration
	skipped, served    int
	reasons            map[string]int
}

func run(t *testing.T, w world, candidate truth, rollouts int, horizon time.Duration) tally {
	tl := tally{n: rollouts, reasons: map[string]int{}}
	for i := range rollouts {
		if i > 0 && i%20 == 0 {
			done := tl
			done.n = i
			t.Logf("after %v", done)
		}
		o := simulate(t, w, candidate, uint64(i), horizon)
		switch o.state {
		case rollout.RolledBack:
			tl.rolledBack++
			tl.reasons[o.reason]++
			d := time.Duration(0)
			if o.breach >= 0 {
				d = max(o.end-o.breach, 0)
			}
			if d <= time.Minute {
				tl.caught++
			}
			tl.delays = append(tl.delays, d)
			tl.sinceStart = append(tl.sinceStart, o.end)
			if o.stillServed {
				tl.served++
			}
		case rollout.Completed:
			tl.completed++
			if o.skipped {
				tl.skipped++
			}
		default:
			tl.held++
			if o.promoted {
				tl.promoted++
			}
		}
	}
	return tl
}

// quantile is the q-quantile (nearest rank) of ds, 0 when empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[min(max(int(math.Ceil(q*float64(len(s))))-1, 0), len(s)-1)]
}

func (tl tally) String() string {
	return fmt.Sprintf("%d rollouts: rolled back %d (within 60 s of breach %d; delay median %v, max %v; from start median %v, max %v; %v), completed %d, held %d (promoted %d)",
		tl.n, tl.rolledBack, tl.caught, quantile(tl.delays, 0.5), quantile(tl.delays, 1),
		quantile(tl.sinceStart, 0.5), quantile(tl.sinceStart, 1), tl.reasons, tl.completed, tl.held, tl.promoted)
}

// simBarRollouts is the default number of rollouts per scenario (about
// 5 s of CPU in all); the bar's 200 run with SEXTANT_BAR_ROLLOUTS=200.
const simBarRollouts = 5

// barWorld is the bar's configuration: 50 000 eligible devices (5 000 in
// the first stage), ε 2 per stream, rollout and UTC day (Laplace terms of
// the hybrid counter; one release per 10 s).
var barWorld = world{fleet: 50_000, eps: 2}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

var scenarios = []struct {
	name      string
	candidate truth
	horizon   time.Duration
	check     func(t *testing.T, tl tally)
}{
	{"accuracy drop of 2 points", truth{0.01, 0.68}, 3 * time.Minute, checkCaught},
	{"inference errors +1 point", truth{0.02, 0.70}, 3 * time.Minute, checkCaught},
	{"good version", baseline, 8 * time.Minute, func(t *testing.T, tl tally) {
		if tl.rolledBack > tl.slack(5) {
			t.Errorf("false rollbacks %d/%d > 5 %%", tl.rolledBack, tl.n)
		}
		if tl.completed < tl.n-tl.slack(5) {
			t.Errorf("completed %d/%d < 95 %%", tl.completed, tl.n)
		}
	}},
	{"at the tolerance (inconclusive)", truth{0.01, 0.69}, 8 * time.Minute, func(t *testing.T, tl tally) {
		if tl.held < tl.n-tl.slack(10) {
			t.Errorf("held %d/%d < 90 %%", tl.held, tl.n)
		}
		if tl.completed+tl.promoted > tl.slack(5) {
			t.Errorf("promoted %d, completed %d of %d", tl.promoted, tl.completed, tl.n)
		}
	}},
}

// slack is pct % of the rollouts, at least one: the bar's 200 allow 10
// misses at 5 %, the default run's handful one (the DP noise comes from a
// cryptographic generator, so no run is reproducible).
func (tl tally) slack(pct int) int { return max(1, tl.n*pct/100) }

func checkCaught(t *testing.T, tl tally) {
	t.Helper()
	if tl.caught < tl.n-tl.slack(5) {
		t.Errorf("rolled back within 60 s of the breach: %d/%d < 95 %%", tl.caught, tl.n)
	}
}

func TestBarSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	n := envInt(t, "SEXTANT_BAR_ROLLOUTS", simBarRollouts)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			tl := run(t, barWorld, sc.candidate, n, sc.horizon)
			t.Logf("fleet %d, ε %g: %v", barWorld.fleet, barWorld.eps, tl)
			if tl.skipped > 0 {
				t.Errorf("%d completed rollouts skipped a stage", tl.skipped)
			}
			if tl.served > 0 {
				t.Errorf("%d rolled-back rollouts still served the candidate", tl.served)
			}
			sc.check(t, tl)
		})
	}
}

// TestBarTable measures, across fleet sizes and ε, how often the two bad
// versions are rolled back within 60 s of the breach, how long it takes,
// and how often the good version is falsely rolled back or completes.
func TestBarTable(t *testing.T) {
	if os.Getenv("SEXTANT_BAR_TABLE") == "" {
		t.Skip("set SEXTANT_BAR_TABLE=1 (and SEXTANT_BAR_ROLLOUTS, default 20) to measure the table")
	}
	n := envInt(t, "SEXTANT_BAR_ROLLOUTS", 20)
	var mu sync.Mutex
	rows := map[world][3]tally{}
	// Around the bar's world: the fleet at ε 2, and ε at 50 000 devices.
	worlds := []world{{25_000, 2}, {50_000, 2}, {100_000, 2},
		{50_000, 0.5}, {50_000, 1}, {50_000, 4}}
	t.Run("grid", func(t *testing.T) {
		for _, w := range worlds {
			t.Run(fmt.Sprintf("fleet %d eps %g", w.fleet, w.eps), func(t *testing.T) {
				t.Parallel()
				var r [3]tally
				for i, sc := range scenarios[:3] {
					r[i] = run(t, w, sc.candidate, n, sc.horizon)
					t.Logf("%s: %v", sc.name, r[i])
				}
				mu.Lock()
				rows[w] = r
				mu.Unlock()
			})
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n| eligible devices | ε per stream·day | acc −2 pts: caught ≤ 60 s | median / max delay | errors +1 pt: caught ≤ 60 s | median / max delay | good: false rollbacks | good: completed |\n|---|---|---|---|---|---|---|---|\n")
	for _, w := range worlds {
		r := rows[w]
		fmt.Fprintf(&b, "| %d | %g | %d/%d | %v / %v | %d/%d | %v / %v | %d/%d | %d/%d |\n", w.fleet, w.eps,
			r[0].caught, r[0].n, quantile(r[0].delays, 0.5), quantile(r[0].delays, 1),
			r[1].caught, r[1].n, quantile(r[1].delays, 0.5), quantile(r[1].delays, 1),
			r[2].rolledBack, r[2].n, r[2].completed, r[2].n)
	}
	t.Log(b.String())
}
