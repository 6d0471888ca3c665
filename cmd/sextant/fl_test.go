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

// fl simulate on a next-destination table whose new users have 1–3 days
// of history prints the comparison by days of history, with the gap's
// interval and the Markov column, and counts the users it cannot score.
func TestFLSimulateByDays(t *testing.T) {
	dir := t.TempDir()
	mob, nd := filepath.Join(dir, "mob"), filepath.Join(dir, "nd")
	runCLI(t, "data", "generate", "--users", "40", "--weeks", "3", "--seed", "5", "--city", "../../mobility/wilmington/wilmington-newark.city.gz", "-o", mob, "-q")
	runCLI(t, "data", "features", "--in", mob, "-o", nd, "--holdout-weeks", "1", "--new-users", "0.7", "--new-user-days", "1-3")
	task := filepath.Join(dir, "task.yaml")
	os.WriteFile(task, []byte(`
model: {arch: next-destination}
data: {path: `+nd+`, holdout: 40, seed: 1}
plan: {epochs: 1, batch_size: 10, lr: 0.05, clip_norm: 1}
target: 10
min_reports: 3
personalize: {epochs: 1}
local: {epochs: 2}
`), 0o644)
	out, _ := runCLI(t, "fl", "simulate", "--task", task, "--devices", "40", "--rounds", "1", "--no-progress")
	for _, want := range []string{"≤ 3 days of history", "  2 days ", "  3 days ", "markov", "[95% CI over users]", "longer history"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// Every new user's row, and the other users', carry an interval.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "≤ 3 days") || strings.HasPrefix(line, "all ") {
			if !strings.Contains(line, "[") {
				t.Errorf("no interval in %q", line)
			}
		}
	}
}
