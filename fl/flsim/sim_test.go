package flsim

import (
	"context"
	"testing"

	"gopkg.in/yaml.v3"
)

const smallTask = `
name: small
model: {inputs: 16, hidden: [32], classes: 4}
data: {examples: 40, holdout: 40, seed: 3}
plan: {epochs: 2, batch_size: 10, lr: 0.1, clip_norm: 2}
target: 20
min_reports: 10
optimizer: {kind: fedavg}
`

func parse(t *testing.T, src string) Spec {
	t.Helper()
	var s Spec
	if err := yaml.Unmarshal([]byte(src), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSimulationLearnsThroughSecAgg(t *testing.T) {
	var first float64
	rep, err := Run(context.Background(), Config{Spec: parse(t, smallTask), Devices: 200, Rounds: 6, Dropout: 0.05, Seed: 1, Dir: t.TempDir(),
		Progress: func(r RoundReport) {
			if r.Round == 1 {
				first = r.Accuracy
			}
			t.Logf("round %d: committed %v, %d/%d reports, accuracy %.3f, loss %.3f, %.0f B/client, server %.3fs of %.3fs",
				r.Round, r.Committed, r.Reports, r.Selected, r.Accuracy, r.TrainLoss, r.BytesPerClient, r.ServerSeconds, r.Seconds)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Committed < 5 || !(rep.Accuracy > 0.5) || !(rep.Accuracy > first) || rep.BytesPerClient <= 0 || rep.Epsilon != 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestSimulationDistributedDPReportsEpsilon(t *testing.T) {
	s := parse(t, smallTask+"distributed_dp: true\n")
	s.Plan.NoiseMultiplier = 0.8
	rep, err := Run(context.Background(), Config{Spec: s, Devices: 200, Rounds: 3, Seed: 2, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "distributed" || rep.Committed != 3 || !(rep.Epsilon > 0) || rep.Delta != 1.0/200 {
		t.Errorf("report %+v", rep)
	}
	t.Logf("3 rounds of distributed DP at z = 0.8: ε = %.3f at δ = %g, accuracy %.3f", rep.Epsilon, rep.Delta, rep.Accuracy)
}

func TestSpecRejectsUnknownFields(t *testing.T) {
	if _, err := parse(t, smallTask+"rounds_per_day: 3\n").Task(100); err == nil {
		t.Error("an unknown field was accepted")
	}
}
