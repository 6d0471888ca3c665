package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPhaseBudgets: every phase the demo runs has a budget; together they
// are about the two minutes the README promises for the default fleet;
// per-phone phases scale with the fleet above 1,000 phones and the fixed
// ones do not; the summary names the phases that went over.
func TestPhaseBudgets(t *testing.T) {
	var total time.Duration
	for _, name := range []string{"population", "train", "evaluate v1", "package v1", "fleet", "publish v1", "install v1",
		"serve v1", "federated v2", "v2 rollout", "bad v3 rollout"} {
		b := phaseBudget(name, 1000)
		if b <= 0 {
			t.Errorf("%s: no budget", name)
		}
		total += b
		if got := phaseBudget(name, 300); got != b {
			t.Errorf("%s at 300 phones: %v, want the default's %v", name, got, b)
		}
		want := 10 * b
		if fixedPhases[name] {
			want = b
		}
		if got := phaseBudget(name, 10000); got != want {
			t.Errorf("%s at 10,000 phones: %v, want %v", name, got, want)
		}
	}
	if total < 100*time.Second || total > 140*time.Second {
		t.Errorf("budgets add up to %v, not about two minutes", total)
	}
	if phaseBudget("no such phase", 1000) != 0 {
		t.Error("an unknown phase has a budget")
	}
	if s := overBudget(3*time.Second, 5*time.Second); s != "" {
		t.Errorf("within budget: %q", s)
	}
	if s := overBudget(7*time.Second, 5*time.Second); !strings.Contains(s, "over its 5s budget") {
		t.Errorf("over budget: %q", s)
	}

	var w bytes.Buffer
	writeBudgets(&w, &demoReport{Phases: []demoPhase{{Name: "train", Seconds: 20, BudgetSeconds: 25}, {Name: "fleet", Seconds: 2, BudgetSeconds: 3}}})
	if got := w.String(); !strings.Contains(got, "phases 22 s of a 28 s budget, each phase within its own") {
		t.Errorf("within budget: %q", got)
	}
	w.Reset()
	writeBudgets(&w, &demoReport{Phases: []demoPhase{{Name: "train", Seconds: 30, BudgetSeconds: 25}, {Name: "fleet", Seconds: 2, BudgetSeconds: 3}}})
	if got := w.String(); !strings.Contains(got, "over budget: train 30.0 s of 25 s") || strings.Contains(got, "fleet 2") {
		t.Errorf("over budget: %q", got)
	}
}
