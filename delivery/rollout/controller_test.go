package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/experiment"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

var _ Assigner = (*Controller)(nil)

// fixedSource returns the arms it was last given.
type fixedSource struct {
	mu   sync.Mutex
	arms Arms
	err  error
}

func (s *fixedSource) set(a Arms, err error) {
	s.mu.Lock()
	s.arms, s.err = a, err
	s.mu.Unlock()
}

func (s *fixedSource) Arms(context.Context, string, string) (Arms, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arms, s.err
}

type pointer struct{ model, version string }

func (p *pointer) SetCurrent(_ context.Context, model, version string) error {
	p.model, p.version = model, version
	return nil
}

func testSpec() Spec {
	return Spec{
		ID: "r1", Model: "eta", Version: "2.0.0", Current: "1.0.0",
		Stages: []Stage{{Share: 100, Bake: 5 * time.Minute}, {Share: 1000, Bake: 5 * time.Minute}},
		Gates:  []Gate{{Metric: "inference_errors", Kind: experiment.MetricProportion, MaxRegression: 0.0025}},
	}
}

var (
	good = Arms{prop(1e6, 0.01), prop(1e5, 0.01)}
	bad  = Arms{prop(1e6, 0.01), prop(1e5, 0.02)}
	thin = Arms{prop(1e3, 0.01), prop(1e2, 0.01)}
)

func TestSpecValidate(t *testing.T) {
	for name, mut := range map[string]func(*Spec){
		"no id":              func(s *Spec) { s.ID = "" },
		"same version":       func(s *Spec) { s.Version = s.Current },
		"no stages":          func(s *Spec) { s.Stages = nil },
		"shares not rising":  func(s *Spec) { s.Stages[1].Share = 100 },
		"share of 100 %":     func(s *Spec) { s.Stages[1].Share = targeting.Buckets },
		"negative bake":      func(s *Spec) { s.Stages[0].Bake = -1 },
		"negative tolerance": func(s *Spec) { s.Gates[0].MaxRegression = -1 },
		"bad confidence":     func(s *Spec) { s.Gates[0].Confidence = 1 },
		"negative min units": func(s *Spec) { s.Gates[0].MinUnits = -1 },
		"duplicate gate":     func(s *Spec) { s.Gates = append(s.Gates, s.Gates[0]) },
		"bad rule":           func(s *Spec) { s.Rule = targeting.Rule{Class: []string{}, Region: []string{"x"}} },
	} {
		s := testSpec()
		mut(&s)
		if err := s.Validate(); !errors.Is(err, delivery.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	s := testSpec()
	if err := s.Validate(); err != nil {
		t.Errorf("valid spec: %v", err)
	}
}

// TestLifecycle walks a good rollout through its stages: it holds while
// the evidence is thin or the bake is not over, then advances and
// completes, moving the current-version pointer; every step is recorded.
func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := &fixedSource{arms: thin}
		p := &pointer{}
		c := New(clock.Real, src, Options{Pointer: p})
		if _, err := c.Create(testSpec()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(func() Spec { s := testSpec(); s.ID = "r2"; return s }()); !errors.Is(err, delivery.ErrConflict) {
			t.Errorf("second active rollout of a model: %v, want ErrConflict", err)
		}
		if err := c.Start("r1", "alice"); err != nil {
			t.Fatal(err)
		}
		step := func(d time.Duration, want State, stage int) {
			t.Helper()
			time.Sleep(d)
			got, err := c.Evaluate(ctx, "r1")
			st, _ := c.Status("r1")
			if err != nil || got != want || st.Stage != stage {
				t.Fatalf("after %v: %v stage %d (%v), want %v stage %d", d, got, st.Stage, err, want, stage)
			}
		}
		step(10*time.Minute, Baking, 0) // inconclusive: holds past the bake
		src.set(good, nil)
		step(0, Baking, 1) // passes, bake over: advance
		step(time.Minute, Baking, 1)
		step(4*time.Minute, Completed, 1)
		st, _ := c.Status("r1")
		if st.Share != targeting.Buckets {
			t.Errorf("completed share %d", st.Share)
		}
		if p.model != "eta" || p.version != "2.0.0" {
			t.Errorf("pointer moved to %s@%s", p.model, p.version)
		}
		var path []string
		for _, r := range st.History {
			path = append(path, fmt.Sprintf("%v/%d/%s", r.To, r.Share, r.Actor))
		}
		want := "[pending/0/controller baking/100/alice baking/1000/controller completed/10000/controller]"
		if fmt.Sprint(path) != want {
			t.Errorf("history %v, want %s", path, want)
		}
		if last := st.History[len(st.History)-1]; len(last.Gates) != 1 || last.Gates[0].Verdict != Pass {
			t.Errorf("completion evidence %+v", last.Gates)
		}
		st.LastGates = append(st.LastGates, GateResult{Metric: "thin", Reason: "too few units"})
		b, err := json.Marshal(st)
		if err != nil || !strings.Contains(string(b), `"state":"completed"`) || !strings.Contains(string(b), `"verdict":"pass"`) {
			t.Errorf("status JSON %s (%v)", b, err)
		}
		if err := c.Pause("r1", "bob", "late"); !errors.Is(err, delivery.ErrConflict) {
			t.Errorf("pause after completion: %v", err)
		}
	})
}

func TestAutoRollbackAndAssignment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := &fixedSource{arms: thin}
		c := New(clock.Real, src, Options{})
		spec := testSpec()
		spec.Rule = targeting.Rule{Class: []string{"high"}}
		if _, err := c.Create(spec); err != nil {
			t.Fatal(err)
		}
		high, low := targeting.Attributes{Class: "high"}, targeting.Attributes{Class: "low"}
		member := ""
		for i := 0; member == ""; i++ {
			if u := fmt.Sprint("device-", i); targeting.Rollout("rollout/r1", 100).Contains(u) {
				member = u
			}
		}
		if v := c.Version("eta", high, member); v != "1.0.0" {
			t.Errorf("pending: member gets %s", v)
		}
		if err := c.Start("r1", "alice"); err != nil {
			t.Fatal(err)
		}
		if v := c.Version("eta", high, member); v != "2.0.0" {
			t.Errorf("baking: member gets %s, want the candidate", v)
		}
		if v := c.Version("eta", low, member); v != "1.0.0" {
			t.Errorf("baking: member outside the rule gets %s", v)
		}
		if v := c.Version("other", high, member); v != "" {
			t.Errorf("model without a rollout: %q", v)
		}
		go c.Run(ctx)
		time.Sleep(25 * time.Second)
		src.set(bad, nil)
		breach := time.Now()
		for {
			time.Sleep(time.Second)
			if c.Version("eta", high, member) == "1.0.0" {
				break
			}
		}
		if d := time.Since(breach); d > 10*time.Second {
			t.Errorf("rollback took %v", d)
		}
		st, _ := c.Status("r1")
		last := st.History[len(st.History)-1]
		if st.State != RolledBack || last.Actor != Actor || last.Gates[0].Verdict != Fail {
			t.Errorf("state %v, last record %+v", st.State, last)
		}
	})
}

func TestManualOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := &fixedSource{arms: good}
		c := New(clock.Real, src, Options{})
		if _, err := c.Create(testSpec()); err != nil {
			t.Fatal(err)
		}
		if err := c.Advance(ctx, "r1", "alice", "x"); !errors.Is(err, delivery.ErrConflict) {
			t.Errorf("advance while pending: %v", err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(c.Start("r1", "alice"))
		must(c.Pause("r1", "alice", "holiday"))
		time.Sleep(time.Hour)
		if s, _ := c.Evaluate(ctx, "r1"); s != Paused {
			t.Errorf("paused rollout with passing gates became %v", s)
		}
		must(c.Resume("r1", "alice", "back"))
		if s, _ := c.Evaluate(ctx, "r1"); s != Baking {
			t.Errorf("resume did not restart the bake: %v", s)
		}
		must(c.Advance(ctx, "r1", "alice", "confident")) // overrides the bake
		if st, _ := c.Status("r1"); st.Stage != 1 || st.History[len(st.History)-1].Actor != "alice" {
			t.Errorf("manual advance: stage %d", st.Stage)
		}
		// A failing gate rolls back even a paused rollout.
		must(c.Pause("r1", "alice", "look"))
		src.set(bad, nil)
		if s, _ := c.Evaluate(ctx, "r1"); s != RolledBack {
			t.Errorf("paused with failing gate: %v", s)
		}
		if err := c.Kill("r1", "alice", "x"); !errors.Is(err, delivery.ErrConflict) {
			t.Errorf("kill after rollback: %v", err)
		}
		// The model may get a new rollout now; the kill switch stops it.
		s := testSpec()
		s.ID = "r2"
		_, err := c.Create(s)
		must(err)
		must(c.Start("r2", "alice"))
		must(c.Kill("r2", "bob", "incident"))
		if v := c.Version("eta", targeting.Attributes{}, "anyone"); v != "1.0.0" {
			t.Errorf("killed rollout serves %s", v)
		}
	})
}

func TestPausesWhenTelemetryStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := &fixedSource{err: errors.New("stream down")}
		c := New(clock.Real, src, Options{})
		if _, err := c.Create(testSpec()); err != nil {
			t.Fatal(err)
		}
		if err := c.Start("r1", "alice"); err != nil {
			t.Fatal(err)
		}
		go c.Run(ctx)
		time.Sleep(55 * time.Second)
		if st, _ := c.Status("r1"); st.State != Baking {
			t.Fatalf("paused too early: %v", st.State)
		}
		time.Sleep(10 * time.Second)
		st, _ := c.Status("r1")
		if st.State != Paused || st.History[len(st.History)-1].Reason != "telemetry unavailable" {
			t.Errorf("state %v, history %+v", st.State, st.History)
		}
	})
}

// TestRaisingShareKeepsMembers: every device in the rollout at one stage
// is still in it at every later stage, and the assigner agrees with
// targeting.Rollout.
func TestRaisingShareKeepsMembers(t *testing.T) {
	ctx := context.Background()
	spec := testSpec()
	spec.Stages = []Stage{{Share: 100}, {Share: 500}, {Share: 2000}, {Share: 5000}}
	c := New(clock.Real, &fixedSource{arms: good}, Options{})
	if _, err := c.Create(spec); err != nil {
		t.Fatal(err)
	}
	if err := c.Start("r1", "alice"); err != nil {
		t.Fatal(err)
	}
	const units = 20000
	in := make([]bool, units)
	for stage, st := range spec.Stages {
		n := 0
		for i := range in {
			u := fmt.Sprint("unit-", i)
			got := c.Version("eta", targeting.Attributes{}, u) == "2.0.0"
			if want := targeting.Rollout("rollout/r1", st.Share).Contains(u); got != want {
				t.Fatalf("stage %d unit %s: assigner %v, targeting %v", stage, u, got, want)
			}
			if in[i] && !got {
				t.Fatalf("stage %d removed unit %s", stage, u)
			}
			in[i] = got
			if got {
				n++
			}
		}
		if want := units * int(st.Share) / targeting.Buckets; n < want*8/10 || n > want*12/10 {
			t.Errorf("stage %d: %d members, want ≈ %d", stage, n, want)
		}
		if err := c.Advance(ctx, "r1", "alice", "next"); err != nil {
			t.Fatal(err)
		}
	}
	if v := c.Version("eta", targeting.Attributes{}, "unit-x"); v != "2.0.0" {
		t.Errorf("completed rollout serves %s", v)
	}
}
