package main

import (
	"fmt"
	"io"
	"time"
)

// phaseBudgets is each demo phase's time budget for the default run
// (1,000 phones, 4 weeks) on the reference machine: 2 cores (AMD EPYC,
// KVM) with nothing else running. Together they are the "about two
// minutes" the README promises. They were set from measured runs
// (2026-11-26, idle machine, seed 1: population 7.5 s, train 16.1,
// evaluate v1 1.9, install v1 9.3, serve v1 3.1, federated v2 12.2, v2
// rollout 17.3 over 3 simulated days, bad v3 rollout 8.9) with headroom
// for the spread between seeds and runs: the v2 rollout may take up to
// its 10 days, and DP-SGD's and the federated rounds' noise changes how
// fast gates certify.
var phaseBudgets = map[string]time.Duration{
	"population":     15 * time.Second,
	"train":          25 * time.Second,
	"evaluate v1":    5 * time.Second,
	"package v1":     2 * time.Second,
	"fleet":          3 * time.Second,
	"publish v1":     1 * time.Second,
	"install v1":     12 * time.Second,
	"serve v1":       6 * time.Second,
	"federated v2":   18 * time.Second,
	"v2 rollout":     25 * time.Second,
	"bad v3 rollout": 12 * time.Second,
}

// fixedPhases do not grow with the fleet: they package and publish three
// bundles whatever its size.
var fixedPhases = map[string]bool{"package v1": true, "publish v1": true}

// phaseBudget is the time budget of the named phase for a fleet of
// devices phones: the default run's, scaled in proportion to the fleet
// above 1,000 phones (every other phase's work is per user or per phone),
// and never below the default's. It is zero for a phase without one.
func phaseBudget(name string, devices int) time.Duration {
	b := phaseBudgets[name]
	if devices <= 1000 || fixedPhases[name] {
		return b
	}
	return time.Duration(float64(b) * float64(devices) / 1000)
}

// overBudget is the note a phase line carries when it took longer than its
// budget, or "".
func overBudget(took, budget time.Duration) string {
	if budget <= 0 || took <= budget {
		return ""
	}
	return fmt.Sprintf(" [over its %s budget]", budget.Round(time.Second))
}

// writeBudgets prints the phases' times against their budgets: the total,
// and each phase that went over.
func writeBudgets(w io.Writer, r *demoReport) {
	var took, budget float64
	var over []demoPhase
	for _, p := range r.Phases {
		took += p.Seconds
		budget += p.BudgetSeconds
		if p.BudgetSeconds > 0 && p.Seconds > p.BudgetSeconds {
			over = append(over, p)
		}
	}
	if budget == 0 {
		return
	}
	fmt.Fprintf(w, "  time: phases %.0f s of a %.0f s budget", took, budget)
	if len(over) == 0 {
		fmt.Fprintln(w, ", each phase within its own")
		return
	}
	fmt.Fprint(w, "; over budget:")
	for i, p := range over {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s %.1f s of %.0f s", sep, p.Name, p.Seconds, p.BudgetSeconds)
	}
	fmt.Fprintln(w, " (the budgets assume an otherwise idle 2-core machine)")
}
