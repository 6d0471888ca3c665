package flsim

import (
	"math"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
)

func TestCombinedCost(t *testing.T) {
	prior := &bundle.PrivacyCost{Epsilon: 6.7, Delta: 1e-5, Accountant: "dp-sgd"}
	fed := &bundle.PrivacyCost{Epsilon: 7.6, Delta: 1e-3, Accountant: "fl"}
	d := combinedCost(prior, fed, CohortDisjoint)
	if d.Epsilon != 7.6 || d.Delta != 1e-3 || !strings.Contains(d.Accountant, "disjoint") {
		t.Errorf("disjoint cohorts: %+v, want the larger (7.6, 1e-3)", d)
	}
	o := combinedCost(prior, fed, CohortOverlapping)
	if math.Abs(o.Epsilon-14.3) > 1e-12 || math.Abs(o.Delta-1.01e-3) > 1e-15 || !strings.Contains(o.Accountant, "composition") {
		t.Errorf("overlapping cohorts: %+v, want the sum (14.3, 1.01e-3)", o)
	}
	// Rounds without noise, or a prior without a guarantee: none.
	if c := combinedCost(prior, nil, CohortDisjoint); c != nil {
		t.Errorf("non-DP rounds kept a guarantee: %+v", c)
	}
	if c := combinedCost(nil, fed, CohortDisjoint); c != nil {
		t.Errorf("a prior without a recorded cost kept a guarantee: %+v", c)
	}
}

func TestRankScores(t *testing.T) {
	// Three examples over four candidates: label ranked 1st, 2nd (a tie
	// with a lower index counts ahead), and 6th would be impossible — 4th.
	logits := []float32{
		3, 1, 0, 0, // label 0: rank 1
		2, 2, 0, 0, // label 1: tie with index 0 → rank 2
		4, 3, 2, 1, // label 3: rank 4
	}
	s := rank(logits, []int64{0, 1, 3})
	if s.N != 3 || math.Abs(s.Acc1-1.0/3) > 1e-12 || s.Acc5 != 1 || math.Abs(s.MRR-(1+0.5+0.25)/3) > 1e-12 {
		t.Errorf("scores %+v", s)
	}
	if !(s.LogLoss > 0) {
		t.Errorf("log-loss %v", s.LogLoss)
	}
	// Acc@5 counts ranks up to 5 only.
	wide := []float32{9, 8, 7, 6, 5, 4}
	if s := rank(wide, []int64{5}); s.Acc5 != 0 || math.Abs(s.MRR-1.0/6) > 1e-12 {
		t.Errorf("rank 6: %+v", s)
	}
}

func TestBumpMinor(t *testing.T) {
	for in, want := range map[string]string{"0.1.0": "0.2.0", "1.4.7-rc.1+b": "1.5.0", "x": "0.1.0"} {
		if got := bumpMinor(in); got != want {
			t.Errorf("bumpMinor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInitNeedsCohort(t *testing.T) {
	s := Spec{Model: ModelSpec{Arch: ArchNextDestination, Init: "prior.sxm"}, Data: DataSpec{Path: "x"}, Target: 2}
	if _, err := s.withDefaults(); err == nil || !strings.Contains(err.Error(), "init_cohort") {
		t.Errorf("model.init without init_cohort: %v", err)
	}
	s.Model = ModelSpec{Inputs: 2, Classes: 2, Init: "prior.sxm"}
	s.Data.Path = ""
	if _, err := s.withDefaults(); err == nil {
		t.Error("model.init accepted for the MLP")
	}
}
