package ledger

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/privacy/accountant"
)

func typedEntries() []Entry {
	ddg := accountant.DistributedDiscreteGaussian{Sigma: 40, Clients: 100, Dim: 1000, L1: 2000, L2: 60}
	return []Entry{
		{Lineage: "eta", Task: "fl", Q: 0.01, NoiseMultiplier: 1.1, Count: 200},
		{Lineage: "eta", Task: "fl", Event: &Event{Gaussian: &accountant.Gaussian{NoiseMultiplier: 20}}, Count: 3},
		{Lineage: "eta", Task: "ftrl", Event: &Event{TreeAggregation: &accountant.TreeAggregation{NoiseMultiplier: 15, StepCounts: []int{100, 100}}}, Count: 2},
		{Lineage: "eta", Task: "secagg", Event: &Event{DistributedDiscreteGaussian: &ddg}, Count: 5},
		{Lineage: "eta", Task: "secagg", Event: &Event{SampledDistributedDiscreteGaussian: &SampledDDG{Q: 0.1, DDG: ddg}}, Count: 20},
		{Lineage: "eta", Task: "metrics", Event: &Event{Laplace: &accountant.Laplace{Scale: 50}}, Count: 4},
		{Lineage: "eta", Task: "metrics", Event: &Event{ZCDP: &accountant.ZCDP{Rho: 0.001}}, Count: 10},
		{Lineage: "eta", Task: "health", Event: &Event{BinaryTree: &accountant.BinaryTree{Releases: 2882, LaplaceScale: 24}}, Count: 1},
		{Lineage: "eta", Task: "health", Event: &Event{HybridCounter: &accountant.HybridCounter{Releases: 8642, LaplaceScale: 4}}, Count: 2},
	}
}

// TestTypedEventsSurviveRestart: one entry of every event type; the lineage
// ε equals a direct composition of the same events, is the same after a
// restart, and the file names each event by its kind.
func TestTypedEventsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "privacy.json")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := accountant.NewRDP(nil)
	for _, e := range typedEntries() {
		if err := l.Record(e); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		ev, err := e.event()
		if err != nil {
			t.Fatal(err)
		}
		if err := direct.Compose(ev, e.Count); err != nil {
			t.Fatal(err)
		}
	}
	before, err := l.Lineage("eta", 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := direct.Epsilon(1e-6, accountant.Improved)
	if before.Epsilon != want {
		t.Fatalf("lineage ε %v, direct composition %v", before.Epsilon, want)
	}
	metrics, _ := l.Task("metrics", 1e-6)
	if !(metrics.Epsilon > 0 && metrics.Epsilon < before.Epsilon) {
		t.Fatalf("task ε %v vs lineage %v", metrics.Epsilon, before.Epsilon)
	}
	raw, _ := os.ReadFile(path)
	for _, key := range []string{`"gaussian"`, `"tree_aggregation"`, `"distributed_discrete_gaussian"`, `"sampled_distributed_discrete_gaussian"`, `"laplace"`, `"zcdp"`, `"step_counts"`, `"binary_tree"`, `"hybrid_counter"`, `"version": 2`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("ledger file lacks %s", key)
		}
	}
	reopened, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := reopened.Lineage("eta", 1e-6)
	if after != before {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	for _, task := range []string{"fl", "ftrl", "secagg", "metrics", "health"} {
		a, _ := l.Task(task, 1e-6)
		b, _ := reopened.Task(task, 1e-6)
		if a != b {
			t.Errorf("task %s: %+v before, %+v after restart", task, a, b)
		}
	}
	// PLD applies only to Gaussian lineages.
	if _, err := reopened.LineagePLD("eta", 1e-6, 0); err == nil {
		t.Error("PLD accepted a lineage with Laplace and tree events")
	}
}

func TestLineagePLD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "privacy.json")
	l, _ := Open(path)
	entries := []Entry{
		{Lineage: "rho", Task: "a", Q: 0.01, NoiseMultiplier: 1.0, Count: 500},
		{Lineage: "rho", Task: "b", Event: &Event{SampledGaussian: &accountant.SampledGaussian{Q: 0.02, NoiseMultiplier: 1.3}}, Count: 300},
	}
	for _, e := range entries {
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	pld, err := l.LineagePLD("rho", 1e-5, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := accountant.ComposeSampledGaussians([]accountant.SampledGaussianStep{{Q: 0.01, NoiseMultiplier: 1.0, Count: 500}, {Q: 0.02, NoiseMultiplier: 1.3, Count: 300}}, 1e-4)
	if want := p.Epsilon(1e-5); math.Abs(pld.Epsilon-want) > 1e-12 {
		t.Fatalf("ledger PLD ε %v, accountant %v", pld.Epsilon, want)
	}
	rdp, _ := l.Lineage("rho", 1e-5)
	if !(pld.Epsilon < rdp.Epsilon) {
		t.Fatalf("PLD ε %v not below RDP ε %v", pld.Epsilon, rdp.Epsilon)
	}
}

func TestRejectsMalformedEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "privacy.json")
	l, _ := Open(path)
	bad := []Entry{
		{Lineage: "x", Count: 1, Event: &Event{}},
		{Lineage: "x", Count: 1, Event: &Event{Laplace: &accountant.Laplace{Scale: 1}, ZCDP: &accountant.ZCDP{Rho: 1}}},
		{Lineage: "x", Count: 1, Q: 0.1, NoiseMultiplier: 1, Event: &Event{Laplace: &accountant.Laplace{Scale: 1}}},
		{Lineage: "x", Count: 1, Event: &Event{ZCDP: &accountant.ZCDP{Rho: -1}}},
		{Lineage: "x", Count: 1, Event: &Event{TreeAggregation: &accountant.TreeAggregation{NoiseMultiplier: 1}}},
		{Lineage: "x", Count: 1, Event: &Event{SampledDistributedDiscreteGaussian: &SampledDDG{Q: 1.5, DDG: accountant.DistributedDiscreteGaussian{Sigma: 1, Clients: 1, Dim: 1}}}},
	}
	for _, e := range bad {
		if err := l.Record(e); err == nil {
			t.Errorf("accepted %+v", e)
		}
	}
	if len(l.Entries()) != 0 {
		t.Fatal("rejected entries recorded")
	}
	// A version-1 file (subsampled Gaussians only) still opens.
	os.WriteFile(path, []byte(`{"version":1,"entries":[{"lineage":"old","task":"t","q":0.01,"noise_multiplier":1.1,"count":100}]}`), 0o600)
	old, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := old.Lineage("old", 1e-6)
	want, _, _ := accountant.SampledGaussianEpsilon(0.01, 1.1, 100, 1e-6, nil, accountant.Improved)
	if got.Epsilon != want {
		t.Fatalf("version-1 ledger ε %v, want %v", got.Epsilon, want)
	}
}
