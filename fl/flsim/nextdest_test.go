package flsim

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/features/tables"
	"github.com/sextant-ml/sextant/internal/mobtest"
	"github.com/sextant-ml/sextant/mobility"
	"github.com/sextant-ml/sextant/tensor"
)

func TestLastDaysUnwrapsTheWeek(t *testing.T) {
	how := []int64{100, 150, 10, 50, 160, 5} // hours 100 150 178 218 328 341
	if got := lastDays(how, 1); got != 4 {
		t.Errorf("last day starts at row %d, want 4", got)
	}
	if got := lastDays(how, 7); got != 2 {
		t.Errorf("last week starts at row %d, want 2", got)
	}
	if got := lastDays(how, 30); got != 0 {
		t.Errorf("30 days start at row %d, want 0", got)
	}
}

func TestRunsGroupsUsers(t *testing.T) {
	got := runs([]int64{4, 4, 7, 9, 9, 9})
	want := [][2]int{{0, 2}, {2, 3}, {3, 6}}
	if len(got) != len(want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runs %v, want %v", got, want)
		}
	}
}

// ndTable writes a next-destination table of a small simulated population.
func ndTable(t *testing.T, users int) string {
	t.Helper()
	in := mobtest.Population(t, "../../mobility/wilmington/wilmington-newark.city.gz", mobility.Config{Users: users, Weeks: 4, Seed: 3, Workers: 1})
	out := t.TempDir()
	if _, err := tables.NextDestination(in, out, tables.Config{HoldoutWeeks: 1}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNextDestinationFederated(t *testing.T) {
	dir := ndTable(t, 40)
	spec := parse(t, `
name: nd
model: {arch: next-destination}
data: {new_users: 0.5, new_user_days: 7, holdout: 20, seed: 1}
plan: {epochs: 1, batch_size: 10, lr: 0.05, clip_norm: 1}
target: 12
min_reports: 6
secagg_plus: true
personalize: {epochs: 3}
local: {epochs: 5}
`)
	spec.Data.Path = dir

	// The devices' data: each user's own rows, new users cut to 7 days.
	ds, err := spec.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	nd, err := openNextDest(ds, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(nd.users) != 40 {
		t.Fatalf("%d users, want 40", len(nd.users))
	}
	var fresh int
	for i, u := range nd.users {
		d, err := nd.device(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != len(nd.names)+1 || d[0].Shape[0] != u.hi-u.lo {
			t.Fatalf("user %d: device data %d tensors of %d rows", u.id, len(d), d[0].Shape[0])
		}
		if u.isNew {
			fresh++
			how := tensor.Data[int64](d[slices.Index(nd.names, "hour_of_week")])
			if lastDays(how, 7) != 0 {
				t.Errorf("new user %d keeps more than 7 days", u.id)
			}
		}
	}
	if fresh < 8 || fresh > 32 {
		t.Errorf("%d of 40 users are new, want about half", fresh)
	}

	var first float64
	rep, err := Run(context.Background(), Config{Spec: spec, Devices: 1000, Rounds: 4, Dropout: 0.05, Seed: 1, Dir: t.TempDir(),
		Progress: func(r RoundReport) {
			if r.Round == 1 {
				first = r.Accuracy
			}
			t.Logf("round %d: committed %v, %d reports, Acc@1 %.3f, loss %.3f", r.Round, r.Committed, r.Reports, r.Accuracy, r.TrainLoss)
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Personalization
	if rep.Devices != 40 || rep.Committed < 3 || p == nil {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("first round Acc@1 %.3f; %+v", first, *p)
	if p.Users != 20 || p.New.Users+p.Other.Users != 20 || p.All.Examples != p.New.Examples+p.Other.Examples {
		t.Errorf("slices %+v", *p)
	}
	if p.All.Global != rep.Accuracy {
		t.Errorf("personalization's global Acc@1 %.4f ≠ the last round's %.4f", p.All.Global, rep.Accuracy)
	}
	// Ranking among ≤ 32 candidates: chance is below 0.1; trained models
	// must do much better.
	for _, a := range []float64{p.All.Global, p.All.FineTuned, p.All.LocalOnly} {
		if !(a > 0.3 && a <= 1) {
			t.Errorf("Acc@1 %.3f", a)
		}
	}
}

// A table made with `data features --new-users` marks its new users: they
// are the new users (whatever data.new_users says), and their rows are not
// cut again, since the table already starts their history late.
func TestNextDestinationMarkedNewUsers(t *testing.T) {
	in := mobtest.Population(t, "../../mobility/wilmington/wilmington-newark.city.gz", mobility.Config{Users: 16, Weeks: 4, Seed: 3, Workers: 1})
	dir := t.TempDir()
	if _, err := tables.NextDestination(in, dir, tables.Config{HoldoutWeeks: 1, NewUsers: 0.5, NewUserDays: 7}); err != nil {
		t.Fatal(err)
	}
	spec := parse(t, `
name: nd
model: {arch: next-destination}
data: {new_users: 0, holdout: 8, seed: 1}
plan: {epochs: 1, batch_size: 10, lr: 0.05, clip_norm: 1}
target: 4
min_reports: 2
`)
	spec.Data.Path = dir
	ds, err := spec.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	nd, err := openNextDest(ds, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.ReadParquet(filepath.Join(dir, "train.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	col, err := d.As("new_user", tensor.Int64, []int{})
	if err != nil {
		t.Fatal(err)
	}
	marks := tensor.Data[int64](col)
	var fresh int
	for _, u := range nd.users {
		want := marks[u.lo] == 1
		if u.isNew != want {
			t.Errorf("user %d: isNew %v, the table says %v", u.id, u.isNew, want)
		}
		if u.isNew {
			fresh++
		}
	}
	if fresh == 0 || fresh == len(nd.users) {
		t.Fatalf("%d of %d users new, want some of each", fresh, len(nd.users))
	}
	// Rows are contiguous per user and none are dropped: the users' ranges
	// tile the table.
	next := 0
	for _, u := range nd.users {
		if u.lo != next {
			t.Fatalf("user %d starts at row %d, want %d (rows cut)", u.id, u.lo, next)
		}
		next = u.hi
	}
}

// A table whose new users' histories differ in length (--new-user-days
// LO-HI) is scored by days of history too; the Markov column's Acc@1 and
// the users left unscored (held-out rows, no training row) are counted
// from the tables.
func TestNextDestinationNewUsersByDays(t *testing.T) {
	in := mobtest.Population(t, "../../mobility/wilmington/wilmington-newark.city.gz", mobility.Config{Users: 24, Weeks: 4, Seed: 3, Workers: 1})
	dir := t.TempDir()
	if _, err := tables.NextDestination(in, dir, tables.Config{HoldoutWeeks: 1, NewUsers: 0.7, NewUserDaysMin: 1, NewUserDays: 4}); err != nil {
		t.Fatal(err)
	}
	spec := parse(t, `
name: nd
model: {arch: next-destination}
data: {holdout: 1000, seed: 1}
plan: {epochs: 1, batch_size: 10, lr: 0.05, clip_norm: 1}
target: 8
min_reports: 2
personalize: {epochs: 2}
local: {epochs: 3}
`)
	spec.Data.Path = dir
	rep, err := Run(context.Background(), Config{Spec: spec, Devices: 1000, Rounds: 2, Seed: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Personalization
	if p == nil {
		t.Fatal("no personalization")
	}
	t.Logf("%+v", *p)

	// Expected, from the tables: each user's days, the test rows the
	// Markov column ranks right, and who has no training row.
	read := func(split string, cols ...string) map[string][]float32 {
		d, err := dataset.ReadParquet(filepath.Join(dir, split+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]float32{}
		for _, c := range cols {
			x, err := d.As(c, tensor.Float32, nil)
			if err != nil {
				t.Fatal(err)
			}
			out[c] = tensor.Data[float32](x)
		}
		return out
	}
	tr := read("train", "user_id")
	trained := map[int64]bool{}
	for _, id := range tr["user_id"] {
		trained[int64(id)] = true
	}
	te := read("test", "user_id", "new_user", "new_user_days", "label", "markov")
	type want struct{ users, rows, markov int }
	byDays := map[int]*want{}
	untrained := map[int64]bool{}
	untrainedNew := map[int]int{}
	users := map[int64]bool{}
	k := len(te["markov"]) / len(te["label"])
	for i, f := range te["user_id"] {
		id, d := int64(f), int(te["new_user_days"][i])
		if !trained[id] {
			if !untrained[id] {
				untrained[id] = true
				if te["new_user"][i] == 1 {
					untrainedNew[d]++
				}
			}
			continue
		}
		if te["new_user"][i] != 1 {
			continue
		}
		if byDays[d] == nil {
			byDays[d] = &want{}
		}
		w := byDays[d]
		if !users[id] {
			users[id] = true
			w.users++
		}
		w.rows++
		row := te["markov"][i*k : (i+1)*k]
		if slices.Index(row, slices.Max(row)) == int(te["label"][i]) {
			w.markov++
		}
	}
	if len(p.NewByDays) != len(byDays) || len(byDays) < 2 {
		t.Fatalf("by days %+v, want %d lengths (at least 2)", p.NewByDays, len(byDays))
	}
	var sum counts
	for _, g := range p.NewByDays {
		w := byDays[g.Days]
		if w == nil || g.Users != w.users || g.Examples != w.rows {
			t.Fatalf("%d days: %d users, %d rows; the table has %+v", g.Days, g.Users, g.Examples, w)
		}
		if got, exp := g.Markov, float64(w.markov)/float64(w.rows); got != exp {
			t.Errorf("%d days: Markov Acc@1 %.4f, the table's column gives %.4f", g.Days, got, exp)
		}
		sum.users += g.Users
		sum.n += g.Examples
	}
	if sum.users != p.New.Users || sum.n != p.New.Examples {
		t.Errorf("by days: %d users, %d rows; new users' slice %d, %d", sum.users, sum.n, p.New.Users, p.New.Examples)
	}
	if p.NewUserDaysMin != p.NewByDays[0].Days || p.NewUserDays != p.NewByDays[len(p.NewByDays)-1].Days {
		t.Errorf("range %d–%d, by days %+v", p.NewUserDaysMin, p.NewUserDays, p.NewByDays)
	}
	if p.Untrained != len(untrained) {
		t.Errorf("%d users unscored for want of training rows, the tables have %d", p.Untrained, len(untrained))
	}
	for d, n := range untrainedNew {
		if p.UntrainedByDays[d] != n {
			t.Errorf("%d days: %d new users without training rows, the tables have %d", d, p.UntrainedByDays[d], n)
		}
	}
	if !(p.All.Markov > 0.2 && p.All.Markov <= 1) {
		t.Errorf("Markov Acc@1 %.3f", p.All.Markov)
	}
	for _, a := range []SliceAcc{p.All, p.New, p.Other} {
		gap := a.FineTuned - a.LocalOnly
		if ci := a.GapCI; ci == nil || !(float64(ci.Lo) <= float64(ci.Hi)) || !ci.Contains(gap) {
			t.Errorf("gap %.4f, interval %+v", gap, a.GapCI)
		}
	}
}

// The gap's interval resamples users, pooling their rows: no difference
// gives [0, 0]; one model right on every row of every user gives a
// positive interval; and heterogeneous users widen it with their count.
func TestGapCI(t *testing.T) {
	same := []userRows{{n: 10, tuned: 7, local: 7}, {n: 3, tuned: 1, local: 1}, {n: 20, tuned: 12, local: 12}}
	if ci := gapCI("same", same); ci == nil || ci.Lo != 0 || ci.Hi != 0 {
		t.Errorf("equal models: %+v, want [0, 0]", ci)
	}
	better := []userRows{{n: 10, tuned: 9, local: 3}, {n: 5, tuned: 5, local: 1}, {n: 8, tuned: 6, local: 2}}
	if ci := gapCI("better", better); ci == nil || !(ci.Lo > 0) || !(ci.Hi <= 1) {
		t.Errorf("better on every user: %+v, want inside (0, 1]", ci)
	}
	if gapCI("one", []userRows{{n: 5, tuned: 3, local: 1}}) != nil {
		t.Error("an interval from one user")
	}
	// Half the users gain 0.6, half lose 0.2: the interval straddles the
	// pooled gap (+0.2) and narrows with more users.
	width := func(users int) float64 {
		var us []userRows
		for i := range users {
			if i%2 == 0 {
				us = append(us, userRows{n: 10, tuned: 8, local: 2})
			} else {
				us = append(us, userRows{n: 10, tuned: 3, local: 5})
			}
		}
		ci := gapCI("mixed", us)
		if !ci.Contains(0.2) {
			t.Errorf("%d users: %+v does not contain the pooled gap 0.2", users, ci)
		}
		return float64(ci.Hi - ci.Lo)
	}
	if w10, w1000 := width(10), width(1000); !(w1000 < w10/5) {
		t.Errorf("interval width %.3f at 10 users, %.3f at 1,000", w10, w1000)
	}
}
