package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoFast: `demo --fast` runs every phase of the story on a small
// fleet and leaves a report whose numbers agree with what the phases
// printed and with one another. With --serve it then keeps the server
// running: the console subtest drives chromium through the web console of
// this very run, before the test stops the server as Ctrl-C would.
func TestDemoFast(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a population, trains three models and runs a fleet")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type consoleAt struct{ url, token string }
	up := make(chan consoleAt, 1)
	ctx = withServed(ctx, func(url, token string) { up <- consoleAt{url, token} })
	var stdout, stderr bytes.Buffer // the demo's goroutine writes them until done
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--fast", "--serve", "--out", dir, "--progress=false",
			"--city", filepath.Join("..", "..", defaultCity)}, &stdout, &stderr)
	}()
	var err error
	select {
	case c := <-up:
		t.Run("console", func(t *testing.T) { checkDemoConsole(t, dir, c.url, c.token) })
		cancel()
		err = <-done
	case err = <-done:
		if err == nil {
			err = errors.New("demo --serve returned before serving its console")
		}
	}
	out := stdout.String()
	if err != nil {
		t.Fatalf("%v\n%s\nstderr: %s", err, out, stderr.String())
	}
	t.Log(out)
	if !strings.Contains(out, "console: http://") {
		t.Errorf("demo --serve printed no console URL:\n%s", out)
	}
	for _, phase := range []string{"population", "train", "evaluate v1", "package v1", "fleet", "publish v1", "install v1", "serve v1", "federated v2", "v2 rollout", "bad v3 rollout"} {
		if !strings.Contains(out, "✓ "+phase) {
			t.Errorf("no finished phase %q in:\n%s", phase, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep demoReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Devices != 300 || len(rep.Quality) == 0 || len(rep.ETA) != 2 || len(rep.Privacy) == 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, p := range rep.Phases {
		if p.BudgetSeconds <= 0 {
			t.Errorf("phase %s has no time budget in report.json", p.Name)
		}
	}
	if !strings.Contains(out, " s budget") {
		t.Errorf("the summary does not compare the phases' time with their budget:\n%s", out)
	}
	q := rep.Quality[0]
	if q.Acc1 <= 0 || q.Acc1 > 1 || q.Acc5 < q.Acc1 || q.MRR < q.Acc1 || q.MarkovAcc1 <= 0 {
		t.Errorf("next destination quality %+v", q)
	}
	if p := rep.Privacy[0]; !(p.Epsilon > 0) || p.Delta != 1e-5 {
		t.Errorf("privacy %+v", p)
	}
	// Every phone installed v1 of both device models, and served both.
	mix := rep.Mix[0]
	if mix.Versions["1.0.0"] != rep.Devices {
		t.Errorf("version mix after install %v, want all %d on 1.0.0", mix.Versions, rep.Devices)
	}
	served := map[string]bool{}
	for _, s := range rep.Fleet {
		served[s.Model] = true
		if s.Failures != 0 || s.Requests == 0 {
			t.Errorf("%s: %d requests, %d failures", s.Label, s.Requests, s.Failures)
		}
		n := 0
		for _, c := range s.Sources {
			n += c
		}
		if n != s.Requests {
			t.Errorf("%s: sources %v do not add up to %d requests", s.Label, s.Sources, s.Requests)
		}
		if s.Model == ndModel && s.Sources["device"] != s.Requests {
			t.Errorf("next destination (private inputs) answered off device: %v", s.Sources)
		}
		// ETA's calibrated cascade escalates a few requests (its threshold
		// targets 5 %) and answers the rest on device.
		if s.Model == etaModel && (s.Sources["server"] == 0 || s.Sources["server"] > s.Requests/5) {
			t.Errorf("ETA cascade: %v of %d requests", s.Sources, s.Requests)
		}
	}
	if !served[ndModel] || !served[etaModel] {
		t.Errorf("served %v, want both device models", served)
	}
	// Federated rounds committed with a privacy cost that grows.
	if len(rep.FL) < 2 {
		t.Fatalf("%d federated rounds committed, want at least 2", len(rep.FL))
	}
	for i, r := range rep.FL {
		if r.Reports < 2 || !(r.Epsilon > 0) || i > 0 && r.Epsilon <= rep.FL[i-1].Epsilon {
			t.Errorf("federated round %+v", r)
		}
	}
	// v2's rollout ended (completed, or held inconclusive and stopped), and
	// reached its A/B stage when it completed, with a sane SRM check.
	if len(rep.Rollouts) != 2 {
		t.Fatalf("%d rollouts, want 2", len(rep.Rollouts))
	}
	if v2 := rep.Rollouts[0]; v2.Final == "completed" {
		if v2.AB == nil || v2.AB.ControlDevices+v2.AB.TreatmentDevices != float64(rep.Devices) || v2.EndMix[v2.Candidate] != rep.Devices {
			t.Errorf("completed v2 rollout: A/B %+v, end mix %v", v2.AB, v2.EndMix)
		}
		// The A/B test's units are the phones that reported in its window
		// (a DP count: within noise of the fleet), with a rate each.
		if ab := v2.AB; ab != nil && (ab.ControlReporting+ab.TreatmentReporting > float64(rep.Devices+30) ||
			ab.ControlReporting < 50 || ab.TreatmentReporting < 50 || ab.ControlMean < 0 || ab.ControlMean > 1 || ab.TreatmentMean < 0 || ab.TreatmentMean > 1) {
			t.Errorf("A/B arms: %+v", ab)
		}
		// The effect is adjusted by each phone's pre-rollout rate (the
		// baseline the gates take): the difference of the arms' mean
		// changes, inside its own interval.
		if ab := v2.AB; ab != nil && (ab.Adjustment == "" || math.Abs(ab.ControlChange) > 1 || math.Abs(ab.TreatmentChange) > 1 ||
			math.Abs(ab.Effect-(ab.TreatmentChange-ab.ControlChange)) > 1e-9 || ab.Low > ab.Effect || ab.High < ab.Effect) {
			t.Errorf("A/B adjustment: %+v", ab)
		}
	}
	// The broken v3 was rolled back by the controller on a failed gate,
	// and every phone went back to the version it ran.
	ro := rep.Rollouts[1]
	last := ro.History[len(ro.History)-1]
	if ro.Final != "rolled-back" || last.Actor != "controller" || !strings.Contains(last.Reason, "gate failed") {
		t.Errorf("bad rollout ended %s by %s (%s)", ro.Final, last.Actor, last.Reason)
	}
	if ro.EndMix[ro.Current] != rep.Devices {
		t.Errorf("after the rollback the fleet runs %v, want all on %s", ro.EndMix, ro.Current)
	}
	if q := rep.Quality[len(rep.Quality)-1]; q.Acc1 >= rep.Quality[0].Acc1-0.2 {
		t.Errorf("the corrupted v3 scores Acc@1 %.3f, v1 %.3f: the bug does not bite", q.Acc1, rep.Quality[0].Acc1)
	}
	// The commands' output is in demo.log; their progress bars are not.
	log, err := os.ReadFile(filepath.Join(dir, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "$ sextant train --arch next-destination") || strings.ContainsAny(string(log), "\r\x1b") {
		t.Errorf("demo.log (%d bytes) lacks the commands or holds terminal control characters", len(log))
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Next destination", "Serving on the fleet", "Fleet version mix", "Federated rounds",
		"candidate share by day", "Rollout " + ro.ID} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}
