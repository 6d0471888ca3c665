package flsim

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/features/tables"
	"github.com/sextant-ml/sextant/internal/mobtest"
	"github.com/sextant-ml/sextant/mobility"
)

func TestAccsChoosesTheFirstBest(t *testing.T) {
	got, best := accs([]int{3, 7, 7, 1}, 10)
	if best != 1 || !slices.Equal(got, []float64{0.3, 0.7, 0.7, 0.1}) {
		t.Errorf("accs: %v, best %d; want best 1", got, best)
	}
	if _, err := tuneDefaults(nil, "local"); err == nil {
		t.Error("an empty list was accepted")
	}
	if _, err := tuneDefaults([]LocalSpec{{Epochs: 5}}, "local"); err == nil {
		t.Error("epochs without a learning rate were accepted")
	}
	l, err := tuneDefaults([]LocalSpec{{Epochs: 0}}, "personalize")
	if err != nil || l[0].BatchSize != 10 || !slices.Equal(l[0].Params, []string{"*"}) {
		t.Errorf("defaults %+v, %v", l, err)
	}
}

// With a tune section, each side's configuration is chosen per slice on
// the validation rows, and with a coverage file Acc@1 is also reported
// over every held-out example (dropped ones are misses).
func TestPersonalizationTuned(t *testing.T) {
	in := mobtest.Population(t, "../../mobility/wilmington/wilmington-newark.city.gz", mobility.Config{Users: 24, Weeks: 4, Seed: 3, Workers: 1})
	dir := t.TempDir()
	st, err := tables.NextDestination(in, dir, tables.Config{HoldoutWeeks: 1, NewUsers: 0.5, NewUserDays: 7, ColdStart: true})
	if err != nil {
		t.Fatal(err)
	}
	spec := parse(t, `
name: nd
model: {arch: next-destination}
data: {holdout: 24, seed: 1}
plan: {epochs: 1, batch_size: 10, lr: 0.05, clip_norm: 1}
target: 8
min_reports: 4
tune:
  validation_share: 0.3
  personalize:
    - {epochs: 0}
    - {params: ["head.*"], epochs: 3, lr: 0.05}
  local:
    - {epochs: 1, lr: 0.001}
    - {epochs: 10, lr: 0.1}
`)
	spec.Data.Path = dir
	rep, err := Run(context.Background(), Config{Spec: spec, Devices: 1000, Rounds: 3, Dropout: 0.05, Seed: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Personalization
	if p == nil || p.Tuning == nil {
		t.Fatalf("no tuning in %+v", p)
	}
	tu := p.Tuning
	for name, sl := range map[string]TuningSlice{"new": tu.New, "other": tu.Other} {
		t.Logf("%s: %+v", name, sl)
		if sl.Users == 0 || sl.Examples == 0 || len(sl.Personalize) != 2 || len(sl.Local) != 2 {
			t.Fatalf("%s users: %+v", name, sl)
		}
		if sl.Personalize[sl.ChosenTune] != slices.Max(sl.Personalize) || sl.Local[sl.ChosenLocal] != slices.Max(sl.Local) {
			t.Errorf("%s users: the choice is not the validation's best: %+v", name, sl)
		}
		// One epoch at lr 0.001 from random weights barely moves: ten at
		// 0.1 must do better on validation.
		if sl.Local[1] <= sl.Local[0] {
			t.Errorf("%s users: local-only validation Acc@1 %v", name, sl.Local)
		}
	}
	if ft, _ := tu.choice(true); !slices.Equal(p.Params, ft.Params) {
		t.Errorf("reported fine-tuned params %v, chosen %v", p.Params, ft.Params)
	}
	// Coverage: every scored user's dropped held-out examples count.
	for name, s := range map[string]SliceAcc{"all": p.All, "new": p.New, "other": p.Other} {
		if s.Coverage <= 0 || s.Coverage > 1 || s.Uncovered < 0 {
			t.Fatalf("%s: %+v", name, s)
		}
		for _, pair := range [][2]float64{{s.Global, s.GlobalAll}, {s.FineTuned, s.FineTunedAll}, {s.LocalOnly, s.LocalOnlyAll}} {
			if math.Abs(pair[0]*s.Coverage-pair[1]) > 1e-9 {
				t.Errorf("%s: covered Acc@1 %v × coverage %v ≠ all-examples Acc@1 %v", name, pair[0], s.Coverage, pair[1])
			}
		}
	}
	if p.Users == 24 && p.All.Uncovered != st.UncoveredTest {
		t.Errorf("all 24 users scored: %d uncovered, the table dropped %d", p.All.Uncovered, st.UncoveredTest)
	}
}
