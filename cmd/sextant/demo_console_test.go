package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/server/console"
	"github.com/sextant-ml/sextant/server/console/consoletest"
)

// checkDemoConsole signs in to the console of a `demo --fast --serve` run
// with its read token and checks, in chromium, that every page shows what
// the run's report.json says: the next-destination versions with their
// lineage and ε, the v2 rollout's stages up to its final share, the v3
// rollback by the controller, the A/B test and its SRM p, the federated
// rounds and the fleet's version mix.
func checkDemoConsole(t *testing.T, dir, url, token string) {
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep demoReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rollouts) != 2 || len(rep.Privacy) < 2 || len(rep.FL) == 0 {
		t.Fatalf("report.json has %d rollouts, %d privacy costs, %d rounds", len(rep.Rollouts), len(rep.Privacy), len(rep.FL))
	}
	shots := consoletest.ScreenshotDir(t, "demo-console")
	t.Logf("screenshots in %s", shots)
	p := consoletest.Open(t, shots, 60*time.Second)
	base := url + console.Prefix
	const from = "report.json"
	num := console.Num
	share := func(percent float64) string { return num(percent) + " %" }

	// Sign in with the token the demo printed; the models page follows.
	p.Open(base + "models/" + ndModel)
	if loc := p.Location(); !strings.Contains(loc, "/console/login") {
		t.Fatalf("signed out, the model page lands on %s", loc)
	}
	p.SignIn(token, "#versions")

	// v1 (DP-SGD prior), v2 (federated, child of v1) and the broken v3
	// (child of the version current when it was made), each with the ε
	// its bundle records: v1's and v2's are the report's; v3 inherits its
	// parent's.
	v2, v3 := rep.Rollouts[0], rep.Rollouts[1]
	parent := map[string]string{v2.Candidate: v2.Current, v3.Candidate: v3.Current}
	eps := map[string]float64{"1.0.0": rep.Privacy[0].Epsilon, v2.Candidate: rep.Privacy[1].Epsilon}
	eps[v3.Candidate] = eps[v3.Current]
	rounds := map[string]int{"1.0.0": 0, v2.Candidate: len(rep.FL)}
	rounds[v3.Candidate] = rounds[v3.Current]
	for _, v := range []string{"1.0.0", v2.Candidate, v3.Candidate} {
		chain := []string{v}
		for c := v; parent[c] != ""; c = parent[c] {
			chain = append(chain, parent[c])
		}
		row := `#versions tr[data-version="` + v + `"] `
		p.Want(row+"[data-k=lineage]", strings.Join(chain, " ← "), from)
		p.Want(row+"[data-k=epsilon]", num(eps[v]), from)
		p.Want(row+"[data-k=rounds]", fmt.Sprint(rounds[v]), from)
	}
	current := v3.Current // after the rollback
	p.Want("[data-k=current]", current, from)
	p.Shot("model")

	// The v2 rollout: its stages, the final share and state, and the
	// transitions with their actors; then v3's rollback by the controller
	// on a failed gate.
	for _, ro := range rep.Rollouts {
		p.Open(base + "rollouts/" + ro.ID)
		last := ro.Days[len(ro.Days)-1]
		state, _, _ := strings.Cut(ro.Final, " ") // "rolled-back (inconclusive; operator)"
		p.Want("#summary [data-k=state]", state, from)
		p.Want("#summary [data-k=share]", share(ro.FinalShare), from)
		tos, actors := p.Texts("#history > li [data-k=to]"), p.Texts("#history > li [data-k=actor]")
		if len(tos) != len(ro.History) || len(actors) != len(ro.History) {
			t.Fatalf("%s: the console shows %d transitions, report.json %d", ro.ID, len(tos), len(ro.History))
		}
		for i, h := range ro.History {
			if tos[i] != h.To || actors[i] != h.Actor {
				t.Errorf("%s transition %d: console %s by %s, report.json %s by %s", ro.ID, i, tos[i], actors[i], h.To, h.Actor)
			}
		}
		for _, g := range last.Gates {
			row := `#gates tr[data-metric="` + g.Metric + `"] `
			p.Want(row+"[data-k=verdict]", g.Verdict.String(), from)
			if g.Reason == "" {
				p.Want(row+"[data-k=regression]", num(g.Regression), from)
			}
		}
		p.Shot("rollout-" + ro.ID)
	}
	if v2.Final == "completed" {
		p.Open(base + "rollouts/" + v2.ID)
		stages := p.Texts("#stages [data-k=share]")
		var seen []string
		for _, d := range v2.Days {
			if s := share(d.Share); !slices.Contains(seen, s) {
				seen = append(seen, s)
			}
		}
		// Every stage share the rollout passed through is a stage of the
		// timeline, and it ended at 100 %.
		for _, s := range seen[:len(seen)-1] {
			if !slices.Contains(stages, s) {
				t.Errorf("v2 passed %s, the stage table shows %v", s, stages)
			}
		}
		if seen[len(seen)-1] != "100 %" {
			t.Errorf("completed v2 ended at %s", seen[len(seen)-1])
		}
	}
	if h := v3.History[len(v3.History)-1]; h.To != "rolled-back" || h.Actor != "controller" {
		t.Errorf("report.json: v3 ended %s by %s", h.To, h.Actor)
	}

	// The A/B test at the 50 % stage, with its SRM check.
	p.Open(base + "experiments")
	if ab := v2.AB; ab != nil {
		row := `#experiments tr[data-experiment="` + v2.ID + `"] `
		p.Want(row+"[data-k=effect]", num(ab.Effect), from)
		if m := p.Text(row + "td:nth-of-type(1)"); (ab.Adjustment != "") != strings.Contains(m, "CUPED") {
			t.Errorf("metric cell %q, report.json adjustment %q", m, ab.Adjustment)
		}
		p.Want(row+"[data-k=ci]", "["+num(ab.Low)+", "+num(ab.High)+"]", from)
		p.Want(row+"[data-k=p]", num(ab.P), from)
		p.Want(row+"[data-k=units]", num(ab.ControlDevices)+" / "+num(ab.TreatmentDevices), from)
		if srm := p.Text(row + "[data-k=srm]"); !strings.HasSuffix(srm, "p = "+num(ab.SRMP)) {
			t.Errorf("SRM cell %q, report.json p = %g", srm, ab.SRMP)
		}
	} else if n := len(p.Texts("#experiments tbody tr")); n != 0 {
		t.Errorf("the console shows %d experiments, report.json none", n)
	}
	p.Shot("experiments")

	// The federated rounds: the committed attempts, in order.
	p.Open(base + "federated")
	sec := `section[data-task="next-destination-fl"] `
	p.Want(sec+"[data-k=rounds]", fmt.Sprint(len(rep.FL)), from)
	var committed []string
	roundNo, outcome := p.Texts(sec+"tbody tr > th"), p.Texts(sec+"tbody tr > td:nth-of-type(2)")
	reports, eps2 := p.Texts(sec+"[data-k=reports]"), p.Texts(sec+"[data-k=epsilon]")
	for i := range roundNo {
		if i < len(outcome) && outcome[i] == "committed" {
			committed = append(committed, roundNo[i]+"/"+reports[i]+"/"+eps2[i])
		}
	}
	var want []string
	for _, r := range rep.FL {
		want = append(want, fmt.Sprintf("%d/%d/%s", r.Round, r.Reports, num(r.Epsilon)))
	}
	if !slices.Equal(committed, want) {
		t.Errorf("committed rounds (round/reports/ε): console %v, report.json %v", committed, want)
	}
	p.Shot("federated")

	// The fleet: every phone, on the version the last rollout left.
	p.Open(base + "fleet")
	p.Want("[data-k=fleet-devices]", fmt.Sprint(rep.Devices), from)
	mix := `.mix[data-model="` + ndModel + `"] `
	for _, v := range slices.Sorted(maps.Keys(v3.EndMix)) {
		p.Want(mix+`tr[data-version="`+v+`"] [data-k=devices]`, fmt.Sprint(v3.EndMix[v]), from)
	}
	if n := len(p.Texts(mix + "tbody tr")); n != len(v3.EndMix) {
		t.Errorf("the console lists %d versions of %s on phones, report.json %v", n, ndModel, v3.EndMix)
	}
	p.Shot("fleet")

	// The overview counts the run's rollouts by outcome.
	p.Open(base)
	outcomes := map[string]int{}
	for _, ro := range rep.Rollouts {
		st, _, _ := strings.Cut(ro.Final, " ")
		outcomes[st]++
	}
	for st, n := range outcomes {
		p.Want("[data-k=rollouts-"+st+"]", fmt.Sprint(n), from)
	}
	p.Shot("overview")
}
