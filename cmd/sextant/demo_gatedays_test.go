package main

import (
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/delivery/rollout"
)

// gateDays lays out a rollout's daily evidence for a failure message.
func TestGateDays(t *testing.T) {
	r := &demoRollout{Days: []demoRolloutDay{
		{Day: 1, State: "baking", Share: 20, Mix: map[string]int{"1.2.0": 57},
			Gates: []rollout.GateResult{{Metric: "acc1", Verdict: rollout.Inconclusive, MaxRegression: 0.1, CandidateN: 12, CurrentN: 240, Reason: "too few units"}}},
		{Day: 2, State: "baking", Share: 20, Mix: map[string]int{"1.2.0": 60},
			Gates: []rollout.GateResult{{Metric: "acc1", Verdict: rollout.Fail, Regression: 0.6, Low: 0.5, High: 0.7, MaxRegression: 0.1, CandidateN: 2400, CurrentN: 9600}}},
	}}
	got := gateDays(r, "1.2.0")
	for _, want := range []string{
		"day 1: 57 phones on 1.2.0, baking at 20%;",
		"acc1 " + rollout.Inconclusive.String() + " (regression 0.000 [0.000, 0.000] of 0.10; n 12 vs 240; too few units)",
		"day 2: 60 phones on 1.2.0",
		"acc1 " + rollout.Fail.String() + " (regression 0.600 [0.500, 0.700] of 0.10; n 2400 vs 9600)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("gateDays lacks %q:\n%s", want, got)
		}
	}
}
