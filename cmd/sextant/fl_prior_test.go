package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/fl/flsim"
)

// TestFLFromDPPrior runs the shippable next-destination path end to end on
// a small population (models/flagship/bar.sh runs it on the benchmark):
// a user-level DP-SGD prior trained on a donor cohort, federated rounds
// from it with SecAgg+ and central DP on every user's training weeks, the
// federated model written as a bundle. The federated model must rank the
// held-out week better than the prior, and its provenance must carry the
// prior's and the rounds' privacy cost.
func TestFLFromDPPrior(t *testing.T) {
	dir := t.TempDir()
	mob, nd, donors := filepath.Join(dir, "mob"), filepath.Join(dir, "nd"), filepath.Join(dir, "donors")
	runCLI(t, "data", "generate", "--users", "60", "--weeks", "4", "--seed", "5", "--city", "../../mobility/wilmington/wilmington-newark.city.gz", "-o", mob, "-q")
	runCLI(t, "data", "features", "--in", mob, "-o", nd, "--holdout-weeks", "1")
	runCLI(t, "data", "features", "--in", mob, "-o", donors, "--holdout-weeks", "1", "--donors", "0.3")
	prior := filepath.Join(dir, "prior.sxm")
	runCLI(t, "train", "--arch", "next-destination", "--data", filepath.Join(donors, "train.parquet"), "--optimizer", "adam", "--lr", "0.01",
		"--batch", "8", "--epochs", "4", "--dp-noise", "1", "--dp-clip", "1", "--dp-user-column", "user_id", "--dp-max-per-user", "16",
		"-o", prior, "--no-progress")
	pb, err := bundle.Open(prior)
	if err != nil {
		t.Fatal(err)
	}
	pm := *pb.Manifest
	pb.Close()
	if pm.Provenance.Privacy == nil || !(pm.Provenance.Privacy.Epsilon > 0) {
		t.Fatalf("the prior records no privacy cost: %+v", pm.Provenance)
	}

	// The donors are part of the federated population: the costs add.
	task := filepath.Join(dir, "task.yaml")
	if err := os.WriteFile(task, []byte(`
name: nd-fl
model: {arch: next-destination, init: `+prior+`, init_cohort: overlapping}
data: {path: `+nd+`, holdout: 60, seed: 1}
plan: {epochs: 2, batch_size: 10, lr: 0.05, clip_norm: 1, noise_multiplier: 0.3}
target: 30
min_reports: 15
secagg_plus: true
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fl.sxm")
	js, _ := runCLI(t, "fl", "simulate", "--task", task, "--devices", "60", "--rounds", "4", "--dropout", "0.05", "--no-progress",
		"--no-personalize", "-o", out, "--json")
	var rep flsim.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("%v in %s", err, js)
	}
	if rep.Committed < 3 || rep.Initial == nil || rep.Out != out || rep.Model == nil || rep.Prior == nil {
		t.Fatalf("report %s", js)
	}
	last := rep.PerRound[len(rep.PerRound)-1]
	t.Logf("prior: Acc@1 %.4f Acc@5 %.4f log-loss %.4f; federated: Acc@1 %.4f Acc@5 %.4f log-loss %.4f; ε prior %.3g + rounds %.3g = %.3g",
		rep.Initial.Acc1, rep.Initial.Acc5, rep.Initial.LogLoss, last.Accuracy, last.Acc5, last.LogLoss, rep.Prior.Epsilon, rep.Epsilon, rep.Model.Epsilon)
	if !(last.LogLoss < rep.Initial.LogLoss) && !(last.Accuracy > rep.Initial.Acc1) {
		t.Errorf("federated rounds did not improve on the prior: log-loss %.4f → %.4f, Acc@1 %.4f → %.4f",
			rep.Initial.LogLoss, last.LogLoss, rep.Initial.Acc1, last.Accuracy)
	}

	b, err := bundle.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := b.Manifest
	p := m.Provenance.Privacy
	if p == nil {
		t.Fatal("the federated model records no privacy cost")
	}
	want := pm.Provenance.Privacy.Epsilon + rep.Epsilon
	if !(rep.Epsilon > 0) || math.Abs(p.Epsilon-want) > 1e-9 || math.Abs(p.Delta-(pm.Provenance.Privacy.Delta+rep.Delta)) > 1e-12 || p.Epsilon != rep.Model.Epsilon {
		t.Errorf("provenance (ε %v, δ %v), want the prior's (%v, %v) plus the rounds' (%v, %v)", p.Epsilon, p.Delta,
			pm.Provenance.Privacy.Epsilon, pm.Provenance.Privacy.Delta, rep.Epsilon, rep.Delta)
	}
	if m.ParentVersion != pm.Version || m.Version == pm.Version || len(m.Provenance.FederatedRounds) != rep.Committed {
		t.Errorf("manifest version %q parent %q rounds %v; prior %q, %d rounds committed", m.Version, m.ParentVersion,
			m.Provenance.FederatedRounds, pm.Version, rep.Committed)
	}
	// The written model is the federated one: sextant eval reads it.
	if _, err := sextant(t, "eval", "--model", out, "--data", filepath.Join(nd, "test.parquet"), "--task", "ranking", "--metrics", "acc@1"); err != nil {
		t.Error(err)
	}
}
