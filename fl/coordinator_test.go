package fl

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/privacy/accountant"
	"github.com/sextant-ml/sextant/secagg"
)

func TestDPFedAvgLedgerMatchesAccountant(t *testing.T) {
	devs := population(50, 20, 2)
	task := simTask("sim-dp", ServerOptimizer{Kind: FedAvg}, 1.1)
	s := newSimulator(t, task, devs, 11)
	const rounds = 3
	var last *RoundRecord
	for last == nil || last.Round < rounds {
		rec, err := s.round()
		if err != nil && !errors.Is(err, ErrRoundFailed) {
			t.Fatal(err)
		}
		if rec != nil {
			last = rec
		}
	}
	q, delta := task.Q(), 1.0/50
	want, _, err := accountant.SampledGaussianEpsilon(q, 1.1, rounds, delta, accountant.DefaultOrders(), accountant.Improved)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := s.c.Privacy()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("q = %.2f, z = 1.1, %d rounds: ε = %.4f at δ = %g (ledger), %.4f (accountant)", q, rounds, pc.Epsilon, delta, want)
	if math.Abs(pc.Epsilon-want) > 1e-9*want || math.Abs(last.Epsilon-want) > 1e-9*want || pc.Delta != delta {
		t.Errorf("ledger ε %v (round record %v) at δ %v, accountant %v", pc.Epsilon, last.Epsilon, pc.Delta, want)
	}
	entries := s.c.cfg.Ledger.Entries()
	if len(entries) != rounds || entries[0].Q != q || entries[0].NoiseMultiplier != 1.1 {
		t.Errorf("ledger entries %+v, want %d rounds of (q %v, z 1.1)", entries, rounds, q)
	}
}

func TestBudgetStopsTask(t *testing.T) {
	task := simTask("sim-budget", ServerOptimizer{Kind: FedAvg}, 1.1)
	e2, _, _ := accountant.SampledGaussianEpsilon(task.Q(), 1.1, 2, 1.0/50, accountant.DefaultOrders(), accountant.Improved)
	e3, _, _ := accountant.SampledGaussianEpsilon(task.Q(), 1.1, 3, 1.0/50, accountant.DefaultOrders(), accountant.Improved)
	task.EpsilonBudget = (e2 + e3) / 2
	s := newSimulator(t, task, population(50, 20, 3), 5)
	for s.c.Rounds() < 2 {
		if _, err := s.round(); err != nil && !errors.Is(err, ErrRoundFailed) {
			t.Fatal(err)
		}
	}
	if _, _, err := s.c.Begin(); !errors.Is(err, ErrBudget) {
		t.Fatalf("third round began with budget %v < ε₃ %v: %v", task.EpsilonBudget, e3, err)
	}
	if s.c.Phase() != PhaseDone {
		t.Errorf("phase %s after the budget ran out", s.c.Phase())
	}
}

func TestTooFewDevicesFailsAndRetries(t *testing.T) {
	devs := population(50, 20, 4)
	s := newSimulator(t, simTask("sim-few", ServerOptimizer{Kind: FedAvg}, 0), devs, 3)
	before := s.c.Global()
	if _, _, err := s.c.Begin(); err != nil {
		t.Fatal(err)
	}
	for _, d := range devs[:3] {
		if _, err := s.c.CheckIn(d.name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.c.CheckIn(devs[0].name); !errors.Is(err, ErrDevice) {
		t.Errorf("a second check-in was accepted: %v", err)
	}
	if err := s.c.Tick(); err != nil || s.c.Phase() != PhaseSelection {
		t.Fatalf("selection closed before its window ended: %v, %s", err, s.c.Phase())
	}
	s.clk.Add(time.Minute)
	if _, err := s.c.CheckIn(devs[5].name); !errors.Is(err, ErrPhase) {
		t.Errorf("a check-in after the window was accepted: %v", err)
	}
	if err := s.c.Tick(); !errors.Is(err, ErrRoundFailed) {
		t.Fatalf("3 devices of 10 needed: %v", err)
	}
	h := s.c.History()
	if len(h) != 1 || h[0].Committed || h[0].Selected != 3 || !strings.Contains(h[0].Failure, "3 devices") {
		t.Errorf("history %+v", h)
	}
	if s.c.Phase() != PhaseIdle || !slices.Equal(s.c.Global(), before) {
		t.Error("a failed round changed the model or left the round open")
	}
	rec, err := s.round()
	if err != nil || rec.Attempt != 2 || rec.Round != 1 {
		t.Fatalf("retry: %+v, %v", rec, err)
	}
}

func TestRoundDeadlineFails(t *testing.T) {
	devs := population(50, 20, 5)
	s := newSimulator(t, simTask("sim-deadline", ServerOptimizer{Kind: FedAvg}, 0), devs, 3)
	s.c.Begin()
	for _, d := range devs[:20] {
		s.c.CheckIn(d.name)
	}
	if err := s.c.CloseSelection(); err != nil {
		t.Fatal(err)
	}
	s.clk.Add(9 * time.Minute)
	if err := s.c.Tick(); err != nil {
		t.Fatal(err)
	}
	s.clk.Add(time.Minute)
	if err := s.c.Tick(); !errors.Is(err, ErrRoundFailed) || s.c.Phase() != PhaseIdle {
		t.Fatalf("round past its deadline: %v, phase %s", err, s.c.Phase())
	}
	if _, err := s.c.Configure(1); !errors.Is(err, ErrPhase) {
		t.Errorf("configuration after the failure: %v", err)
	}
}

func TestTooManyDropoutsFailCleanly(t *testing.T) {
	devs := population(50, 20, 6)
	s := newSimulator(t, simTask("sim-drop", ServerOptimizer{Kind: FedAvg}, 0), devs, 3)
	s.dropout = 0.8
	before := s.c.Global()
	rec, err := s.round()
	if !errors.Is(err, ErrRoundFailed) || rec != nil {
		t.Fatalf("80%% dropouts: %+v, %v", rec, err)
	}
	if !slices.Equal(s.c.Global(), before) || s.c.Rounds() != 0 {
		t.Error("a failed round changed the model")
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	devs := population(50, 20, 7)
	dir, clk := t.TempDir(), newClock()
	task := simTask("sim-restart", ServerOptimizer{Kind: FedAdam, LR: 0.1}, 0)
	s := openSimulator(t, task, devs, 9, dir, clk)
	for s.c.Rounds() < 2 {
		if _, err := s.round(); err != nil && !errors.Is(err, ErrRoundFailed) {
			t.Fatal(err)
		}
	}
	global, opt, attempts := s.c.Global(), s.c.st.Optimizer, s.c.st.Attempts
	// A round in flight when the coordinator stops.
	s.c.Begin()
	for _, d := range devs[:20] {
		s.c.CheckIn(d.name)
	}
	if err := s.c.CloseSelection(); err != nil {
		t.Fatal(err)
	}
	a, err := s.c.Configure(1)
	if err != nil {
		t.Fatal(err)
	}
	u, err := client.Train(t.Context(), linearModel(), a.Global, a.Plan, devs[0].data(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, adv, _, err := client.Secure(*a.SecAgg, 1, u, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	s.send(adv)

	r := openSimulator(t, Task{}, devs, 10, dir, clk)
	if r.c.Rounds() != 2 || !slices.Equal(r.c.Global(), global) || !slices.Equal(r.c.st.Optimizer.V, opt.V) ||
		!slices.Equal(r.c.st.Optimizer.M, opt.M) || r.c.Task().Name != task.Name {
		t.Fatal("committed rounds, weights, optimizer state or task differ after the restart")
	}
	h := r.c.History()
	if r.c.Phase() != PhaseIdle || h[len(h)-1].Committed || h[len(h)-1].Attempt != attempts+1 {
		t.Fatalf("the round in flight was not failed: phase %s, last %+v", r.c.Phase(), h[len(h)-1])
	}
	// The old round's message is refused; the retry commits round 3 with
	// a fresh secagg round id.
	b, _ := secagg.Marshal(adv)
	if err := r.c.Receive(b); !errors.Is(err, ErrPhase) {
		t.Errorf("a message of the round in flight was accepted after the restart: %v", err)
	}
	rec, err := r.round()
	for errors.Is(err, ErrRoundFailed) {
		rec, err = r.round()
	}
	if err != nil || rec.Round != 3 || rec.Attempt <= attempts+1 {
		t.Fatalf("retry after restart: %+v, %v", rec, err)
	}
	if _, err := Open(Config{Task: Task{Name: "other"}, Model: linearModel(), StatePath: filepath.Join(dir, "state.json")}); err == nil {
		t.Error("a state file of another task was resumed")
	}
}

func TestPlaintextOnlyWhenEnabled(t *testing.T) {
	task := simTask("plain", ServerOptimizer{Kind: FedAvg}, 0)
	task.SecureAggregation = false
	if err := task.Validate(); !errors.Is(err, client.ErrPlaintext) {
		t.Fatalf("plaintext task without opt-in: %v", err)
	}
	devs := population(50, 20, 8)
	u, err := client.Train(t.Context(), linearModel(), make([]float32, features+1), task.Plan, devs[0].data(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Cleartext(); !errors.Is(err, client.ErrPlaintext) {
		t.Errorf("cleartext update without opt-in: %v", err)
	}
	task.Plan.PlaintextForSimulation = true
	s := newSimulator(t, task, devs, 4)
	s.c.Begin()
	var sum []float64
	for i, d := range devs[:12] {
		id, err := s.c.CheckIn(d.name)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			s.c.CloseSelection() // too early: 1 device
			if s.c.Phase() != PhaseIdle {
				t.Fatal("selection with one device did not fail")
			}
			s.c.Begin()
			if id, err = s.c.CheckIn(d.name); err != nil {
				t.Fatal(err)
			}
		}
		_ = id
	}
	if err := s.c.CloseSelection(); err != nil {
		t.Fatal(err)
	}
	for id := uint32(1); id <= 12; id++ {
		a, err := s.c.Configure(id)
		if err != nil || a.SecAgg != nil {
			t.Fatalf("configure %d: %+v, %v", id, a, err)
		}
		u, err := client.Train(t.Context(), linearModel(), a.Global, a.Plan, devs[id-1].data(), nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := u.Cleartext()
		if err != nil {
			t.Fatal(err)
		}
		if sum == nil {
			sum = make([]float64, len(d))
		}
		for j, v := range d {
			sum[j] += float64(v)
		}
		if err := s.c.ReportPlain(id, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.c.ReportPlain(1, make([]float32, features+1)); !errors.Is(err, ErrDevice) {
		t.Errorf("second report accepted: %v", err)
	}
	rec, err := s.c.Advance()
	if err != nil || rec.Reports != 12 {
		t.Fatalf("plaintext round: %+v, %v", rec, err)
	}
	for j, v := range s.c.Global() {
		if math.Abs(float64(v)-sum[j]/12) > 1e-6 {
			t.Fatalf("FedAvg weight %d = %v, want the mean update %v", j, v, sum[j]/12)
		}
	}
}
