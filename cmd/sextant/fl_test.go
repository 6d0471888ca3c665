package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFLSimulateCLI(t *testing.T) {
	task := filepath.Join(t.TempDir(), "task.yaml")
	os.WriteFile(task, []byte(`
name: cli
model: {inputs: 8, hidden: [16], classes: 3}
data: {examples: 30, holdout: 30, seed: 2}
plan: {epochs: 1, batch_size: 10, lr: 0.1, clip_norm: 1, noise_multiplier: 1}
target: 20
min_reports: 12
distributed_dp: true
`), 0o644)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"fl", "simulate", "--task", task, "--devices", "300", "--rounds", "3", "--dropout", "0.1", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v (%s)", err, errb.String())
	}
	var rep struct {
		Rounds, Committed int
		RoundsPerSecond   float64 `json:"rounds_per_second"`
		BytesPerClient    float64 `json:"bytes_per_client"`
		Epsilon, Delta    float64
		PerRound          []struct{ Accuracy float64 } `json:"per_round"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v in %q", err, out.String())
	}
	if rep.Rounds != 3 || rep.Committed == 0 || !(rep.RoundsPerSecond > 0) || !(rep.BytesPerClient > 0) || !(rep.Epsilon > 0) || rep.Delta != 1.0/300 || len(rep.PerRound) != 3 {
		t.Errorf("report %s", out.String())
	}
	if !strings.Contains(errb.String(), "3/3") {
		t.Errorf("no progress bar on stderr: %q", errb.String())
	}
	// An unknown key is refused.
	os.WriteFile(task, []byte("name: x\nmodel: {inputs: 2, classes: 2}\ntarget: 2\nrounds: 3\n"), 0o644)
	if err := run(context.Background(), []string{"fl", "simulate", "--task", task, "--devices", "10", "--json"}, &out, &errb); err == nil {
		t.Error("a task with an unknown key ran")
	}
}
