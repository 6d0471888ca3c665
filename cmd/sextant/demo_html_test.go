package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The report says what the run measured: the A/B test's stage and day,
// the federated rounds and the rollout's path come from the report's
// numbers, not from the story's usual course.
func TestStoryHTMLFromNumbers(t *testing.T) {
	r := &demoReport{Devices: 7, Weeks: 2,
		FL: []demoRound{{Round: 1, Joined: 5, Reports: 4, Epsilon: 1.25, Delta: 1e-3}, {Round: 3, Joined: 6, Reports: 6, Epsilon: 2.5, Delta: 1e-3}},
		Rollouts: []demoRollout{{ID: "nd-2", Candidate: "2.0.0", Current: "1.0.0", Final: "rolled-back", FinalShare: 0,
			Days:    []demoRolloutDay{{Day: 1, State: "baking", Share: 30}, {Day: 2, State: "rolled-back", Share: 0}},
			History: []demoTransition{{To: "baking", Share: 30, Actor: "operator"}, {At: 2, To: "rolled-back", Actor: "controller", Reason: "gate failed"}},
			AB:      &demoAB{Share: 30, Day: 1, Metric: "on-device Acc@1", Control: "1.0.0", Treatment: "2.0.0", Effect: -0.25, SRMP: 0.5}}}}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := writeStoryHTML(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		"A/B test at 30.0% (the health phones reported for day 1,", "effect -0.250",
		"Federated rounds (v2)", "after round 3", "ε 2.50",
		"Rollout nd-2: candidate share by day (rolled-back)", "rolled-back at 0%",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(html, "50 %") || strings.Contains(html, "50.0%") {
		t.Error("report.html names a 50 % stage the report does not have")
	}
}
