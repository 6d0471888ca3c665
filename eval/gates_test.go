package eval

import (
	"strings"
	"testing"
)

func est(cand, lo, hi, base, dlo, dhi float64) Estimate {
	b, d := Num(base), Num(cand-base)
	return Estimate{
		Candidate: Num(cand), CandidateCI: Interval{Num(lo), Num(hi)},
		Baseline: &b, BaselineCI: &Interval{Num(base - 0.01), Num(base + 0.01)},
		Diff: &d, DiffCI: &Interval{Num(dlo), Num(dhi)},
	}
}

func gateReport() *Report {
	return &Report{
		Pass:    true,
		Metrics: []MetricInfo{{"acc@1", true}, {"mae", false}},
		Slices: []SliceResult{
			{Key: "all", Value: "all", Examples: 1000, Metrics: map[string]Estimate{
				"acc@1": est(0.80, 0.78, 0.82, 0.802, -0.006, 0.002),
				"mae":   est(2.0, 1.9, 2.1, 2.1, -0.15, -0.05),
			}},
			{Key: "type=explorer", Column: "type", Value: "explorer", Examples: 600, Metrics: map[string]Estimate{
				"acc@1": est(0.70, 0.66, 0.74, 0.72, -0.03, -0.01),
				"mae":   est(2.5, 2.3, 2.7, 2.4, 0.02, 0.18),
			}},
			{Key: "type=returner", Column: "type", Value: "returner", Examples: 150, Metrics: map[string]Estimate{
				"acc@1": est(0.9, 0.85, 0.95, 0.99, -0.12, -0.06),
				"mae":   est(1.0, 0.9, 1.1, 1.0, -0.01, 0.01),
			}},
		},
		Profiles: []ProfileResult{
			{Profile: "phone-low", DeviceP95: 900, WithinBudget: false, Violations: []string{"device p95 900 µs > budget 800 µs"}},
			{Profile: "phone-high", DeviceP95: 300, WithinBudget: true},
		},
	}
}

func checkGates(t *testing.T, yaml string) *Report {
	t.Helper()
	g, err := ReadGates(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	r := gateReport()
	g.Check(r)
	return r
}

func resultFor(t *testing.T, r *Report, slice string) GateResult {
	t.Helper()
	for _, g := range r.Gates {
		if g.Slice == slice {
			return g
		}
	}
	t.Fatalf("no gate result for %s in %+v", slice, r.Gates)
	return GateResult{}
}

func TestGateMaxDropOnSlices(t *testing.T) {
	r := checkGates(t, `
- metric: acc@1
  max_drop: 0.005
  slices: all
  min_examples: 200
`)
	if r.Pass {
		t.Fatal("passed although the explorer slice dropped 2 points")
	}
	if g := resultFor(t, r, "all"); !g.Pass {
		t.Errorf("overall drop 0.002 failed: %s", g.Reason)
	}
	if g := resultFor(t, r, "type=explorer"); g.Pass || !strings.Contains(g.Reason, "max_drop") {
		t.Errorf("explorer: %+v", g)
	}
	if g := resultFor(t, r, "type=returner"); !g.Pass || !g.Skipped {
		t.Errorf("returner (150 examples) not skipped: %+v", g)
	}
	var text strings.Builder
	r.WriteGates(&text)
	if !strings.Contains(text.String(), "FAIL") || !strings.Contains(text.String(), "1 of 3 gate checks failed") {
		t.Errorf("table:\n%s", text.String())
	}
}

func TestGateBoundsAndDirections(t *testing.T) {
	// mae is lower-is-better: a drop is an increase. Overall it improved
	// by 0.1; on explorers it worsened by 0.1.
	r := checkGates(t, `
gates:
  - metric: mae
    max_drop: 0.05
    slices: [type]
`)
	if g := resultFor(t, r, "type=explorer"); g.Pass {
		t.Errorf("explorer mae rose 0.1 yet passed max_drop 0.05")
	}
	if g := resultFor(t, r, "type=returner"); !g.Pass {
		t.Errorf("returner unchanged failed: %s", g.Reason)
	}
	for _, g := range r.Gates {
		if g.Slice == "all" {
			t.Error("slices: [type] selected the whole data set")
		}
	}

	// With bound: ci the overall acc@1 drop may reach 0.006 > 0.005.
	r = checkGates(t, "- {metric: acc@1, max_drop: 0.005, bound: ci}\n")
	if r.Pass {
		t.Error("ci bound ignored the interval's pessimistic end")
	}
	// Absolute thresholds, point and ci.
	r = checkGates(t, "- {metric: acc@1, min: 0.79}\n")
	if !r.Pass {
		t.Errorf("0.80 ≥ 0.79 failed: %+v", r.Gates)
	}
	r = checkGates(t, "- {metric: acc@1, min: 0.79, bound: ci}\n")
	if r.Pass {
		t.Error("interval from 0.78 passed min 0.79 with bound ci")
	}
	// A required gain: mae overall improved by 0.1 ≥ 0.08.
	r = checkGates(t, "- {metric: mae, min_gain: 0.08}\n- {metric: acc@1, min_gain: 0.01}\n")
	if g := r.Gates[0]; !g.Pass {
		t.Errorf("mae gain: %+v", g)
	}
	if g := r.Gates[1]; g.Pass || !strings.Contains(g.Reason, "min_gain") {
		t.Errorf("acc@1 gain: %+v", g)
	}
}

func TestGateProfilesAndErrors(t *testing.T) {
	r := checkGates(t, "- metric: budgets\n")
	if r.Pass || resultFor(t, r, "profile:phone-low").Pass || !resultFor(t, r, "profile:phone-high").Pass {
		t.Errorf("budgets: %+v", r.Gates)
	}
	r = checkGates(t, "- {metric: device_p95_us, max: 500, profile: phone-high}\n")
	if !r.Pass || len(r.Gates) != 1 {
		t.Errorf("device p95 on phone-high: %+v", r.Gates)
	}
	r = checkGates(t, "- {metric: acc@1, min: 0.5, slices: nosuchcolumn}\n")
	if r.Pass {
		t.Error("a gate that matched no slice passed")
	}
	for _, bad := range []string{
		"- {metric: acc@1}\n",                     // no threshold
		"- {metric: acc@1, min: 0.5, mni: 1}\n",   // misspelt key
		"- {metric: f1, min: 0.5}\n",              // unknown metric
		"- {metric: acc@1, min: 0.5, bound: x}\n", // bad bound
		"- {metric: arena_bytes, max_drop: 1}\n",  // relative profile gate
	} {
		if _, err := ReadGates(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	g, err := ReadGates(strings.NewReader("slices:\n  - column: hour\n    edges: [6, 12]\ngates:\n  - {metric: ECE, max: 0.1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Slices) != 1 || g.Slices[0].String() != "hour:6,12" || g.Metrics()[0] != "ece" {
		t.Errorf("parsed %+v", g)
	}
}
