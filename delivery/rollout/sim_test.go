package rollout

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

// The Bar simulation (issue 8): 200 rollouts per scenario on a simulated
// fleet, one controller evaluating every 10 s of synctest time.
//
// Fleet (eligible devices, per second of simulated time): 20 000
// inferences with a 1 % error rate, 10 000 labeled next-destination
// predictions with Acc@1 0.70, and 2 000 devices reporting their p95
// latency (mean 40 ms, sd 12 ms across devices). Members of the rollout
// report under the candidate, the rest under the current version; the
// inference-error counts are released with Laplace noise (b = 50 per
// release) and the gate folds its variance in.

const (
	simRollouts   = 200
	simInferences = 20000.0
	simLabeled    = 10000.0
	simLatency    = 2000.0
	laplaceB      = 50.0
)

// truth is one version's behaviour.
type truth struct{ errRate, acc, latency float64 }

var baseline = truth{errRate: 0.01, acc: 0.70, latency: 40}

func simSpec(i int) Spec {
	return Spec{
		ID: fmt.Sprintf("r%03d", i), Model: fmt.Sprintf("m%03d", i), Version: "2.0.0", Current: "1.0.0",
		Stages: []Stage{{Share: 500, Bake: 10 * time.Minute}, {Share: 2000, Bake: 10 * time.Minute},
			{Share: 5000, Bake: 10 * time.Minute}},
		Gates: []Gate{
			{Metric: "inference_errors", Kind: experiment.MetricProportion, MaxRegression: 0.0025, Tuning: 1e6, MinUnits: 20000},
			{Metric: "acc1", Kind: experiment.MetricProportion, Direction: HigherIsBetter, MaxRegression: 0.005, Tuning: 1e6},
			{Metric: "latency_p95", Kind: experiment.MetricMean, MaxRegression: 0.10, Relative: true, Tuning: 1e5},
		},
	}
}

// simFleet is the Source: it accumulates each rollout's arms as the
// clock advances, at the share the controller serves.
type simFleet struct {
	c         *Controller
	candidate truth
	mu        sync.Mutex
	fleets    map[string]*fleet
}

type fleet struct {
	rng  *rand.Rand
	last time.Time
	// exact arms: [0] current, [1] candidate.
	errs, acc, lat [2]experiment.Summary
}

func (s *simFleet) Arms(_ context.Context, id, metric string) (Arms, error) {
	st, err := s.c.Status(id)
	if err != nil {
		return Arms{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fleets[id]
	now := time.Now()
	if dt := now.Sub(f.last).Seconds(); dt > 0 {
		share := float64(st.Share) / targeting.Buckets
		for arm, tr := range [2]truth{baseline, s.candidate} {
			w := 1 - share
			if arm == 1 {
				w = share
			}
			f.errs[arm] = addEvents(f.rng, f.errs[arm], simInferences*w*dt, tr.errRate)
			f.acc[arm] = addEvents(f.rng, f.acc[arm], simLabeled*w*dt, tr.acc)
			f.lat[arm] = addValues(f.rng, f.lat[arm], simLatency*w*dt, tr.latency, 12)
		}
		f.last = now
	}
	switch metric {
	case "inference_errors":
		return Arms{dpRelease(f.rng, f.errs[0]), dpRelease(f.rng, f.errs[1])}, nil
	case "acc1":
		return Arms{f.acc[0], f.acc[1]}, nil
	case "latency_p95":
		return Arms{f.lat[0], f.lat[1]}, nil
	}
	return Arms{}, fmt.Errorf("no metric %s", metric)
}

// addEvents adds ≈ k Bernoulli(p) events (normal approximation).
func addEvents(rng *rand.Rand, s experiment.Summary, k, p float64) experiment.Summary {
	k = math.Round(k)
	if k <= 0 {
		return s
	}
	x := math.Round(k*p + math.Sqrt(k*p*(1-p))*rng.NormFloat64())
	s.N += k
	s.Sum += math.Min(math.Max(x, 0), k)
	return s
}

// addValues adds ≈ k values from N(mu, sd²) through their sums.
func addValues(rng *rand.Rand, s experiment.Summary, k, mu, sd float64) experiment.Summary {
	k = math.Round(k)
	if k <= 0 {
		return s
	}
	dev := math.Sqrt(k) * sd * rng.NormFloat64()
	s.N += k
	s.Sum += k*mu + dev
	s.SumSquares += k*(mu*mu+sd*sd) + 2*mu*dev
	return s
}

// dpRelease releases a count with Laplace(b) noise and its variance.
func dpRelease(rng *rand.Rand, s experiment.Summary) experiment.Summary {
	noise := laplaceB * (rng.ExpFloat64() - rng.ExpFloat64())
	return FromEstimate(experiment.MetricProportion, s.N,
		aggregateEstimate(s.Sum+noise, 2*laplaceB*laplaceB), 0)
}

type simOutcome struct {
	rolledBack, completed, held, promoted int
	// slowest is the longest time from the breach (the first stage's
	// start) to the rollback among rolled-back rollouts.
	slowest time.Duration
	late    int // rollbacks later than 60 s after the breach
	broken  int // members still served the candidate after rollback
	// reasons counts the rollbacks' reasons (which gate failed).
	reasons map[string]int
	// skipped counts completed rollouts that did not pass through every
	// stage in order.
	skipped int
}

func simulate(t *testing.T, candidate truth, horizon time.Duration) simOutcome {
	out := simOutcome{reasons: map[string]int{}}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := &simFleet{candidate: candidate, fleets: map[string]*fleet{}}
		c := New(clock.Real, src, Options{Interval: 10 * time.Second})
		src.c = c
		start := time.Now()
		for i := range simRollouts {
			s := simSpec(i)
			if _, err := c.Create(s); err != nil {
				t.Fatal(err)
			}
			src.fleets[s.ID] = &fleet{rng: rand.New(rand.NewPCG(8, uint64(i))), last: start}
			if err := c.Start(s.ID, "sim"); err != nil {
				t.Fatal(err)
			}
		}
		go c.Run(ctx)
		time.Sleep(horizon)
		cancel()
		for i := range simRollouts {
			st, err := c.Status(simSpec(i).ID)
			if err != nil {
				t.Fatal(err)
			}
			switch st.State {
			case RolledBack:
				out.rolledBack++
				out.reasons[st.History[len(st.History)-1].Reason]++
				d := st.History[len(st.History)-1].At.Sub(start)
				out.slowest = max(out.slowest, d)
				if d > time.Minute {
					out.late++
				}
				for u := range 200 {
					if c.Version(st.Spec.Model, targeting.Attributes{}, fmt.Sprint("u", u)) != "1.0.0" {
						out.broken++
					}
				}
			case Completed:
				out.completed++
				var shares []uint32
				for _, r := range st.History[2:] {
					shares = append(shares, r.Share)
				}
				if fmt.Sprint(shares) != "[2000 5000 10000]" || st.History[1].Share != 500 {
					out.skipped++
				}
			case Baking, Paused:
				out.held++
				if st.Stage > 0 {
					out.promoted++
				}
			}
		}
	})
	return out
}

func TestBarSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	for _, sc := range []struct {
		name      string
		candidate truth
		horizon   time.Duration
		check     func(t *testing.T, o simOutcome)
	}{
		{"accuracy drop of 2 points", truth{0.01, 0.68, 40}, 10 * time.Minute, checkCaught},
		{"inference errors +1 point", truth{0.02, 0.70, 40}, 10 * time.Minute, checkCaught},
		{"good version", baseline, 45 * time.Minute, func(t *testing.T, o simOutcome) {
			if o.rolledBack > simRollouts*5/100 {
				t.Errorf("false rollbacks %d/%d > 5 %%", o.rolledBack, simRollouts)
			}
			if o.completed < simRollouts*95/100 {
				t.Errorf("completed %d/%d < 95 %%", o.completed, simRollouts)
			}
		}},
		{"at the tolerance (inconclusive)", truth{0.01, 0.695, 40}, 45 * time.Minute, func(t *testing.T, o simOutcome) {
			if o.held < simRollouts*90/100 {
				t.Errorf("held %d/%d < 90 %%", o.held, simRollouts)
			}
			if o.completed+o.promoted > simRollouts*5/100 {
				t.Errorf("promoted %d, completed %d of %d", o.promoted, o.completed, simRollouts)
			}
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			o := simulate(t, sc.candidate, sc.horizon)
			t.Logf("%d rollouts: rolled back %d (late %d, slowest %v; %v), completed %d, held %d (promoted %d)",
				simRollouts, o.rolledBack, o.late, o.slowest, o.reasons, o.completed, o.held, o.promoted)
			if o.skipped > 0 {
				t.Errorf("%d completed rollouts skipped a stage", o.skipped)
			}
			if o.broken > 0 {
				t.Errorf("%d device checks still served the candidate after rollback", o.broken)
			}
			sc.check(t, o)
		})
	}
}

func checkCaught(t *testing.T, o simOutcome) {
	t.Helper()
	if caught := o.rolledBack - o.late; caught < simRollouts*95/100 {
		t.Errorf("rolled back within 60 s: %d/%d < 95 %%", caught, simRollouts)
	}
}
