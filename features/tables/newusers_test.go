package tables

import (
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
)

// New users (--new-users) keep only their last --new-user-days days of
// history before the test split: their features are built from those
// visits alone, and their rows say so.
func TestNextDestinationNewUsers(t *testing.T) {
	in := generate(t, 12, 4)
	full, fresh := t.TempDir(), t.TempDir()
	stFull, err := NextDestination(in, full, Config{HoldoutWeeks: 1})
	if err != nil {
		t.Fatal(err)
	}
	stFresh, err := NextDestination(in, fresh, Config{HoldoutWeeks: 1, NewUsers: 1, NewUserDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	// Three training weeks shrink to one: about a third of the examples.
	if f := float64(stFresh.Train) / float64(stFull.Train); f < 0.2 || f > 0.5 {
		t.Errorf("new users' training examples %d of %d (%.2f), want about a third", stFresh.Train, stFull.Train, f)
	}
	read := func(dir, split string) *dataset.Dataset {
		d, err := dataset.Read(filepath.Join(dir, split+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, split := range []string{"train", "test"} {
		isNew, _ := column[int64](t, read(fresh, split), "new_user")
		for i, v := range isNew {
			if v != 1 {
				t.Fatalf("%s row %d: new_user %d with --new-users 1", split, i, v)
			}
		}
		old, _ := column[int64](t, read(full, split), "new_user")
		for i, v := range old {
			if v != 0 {
				t.Fatalf("%s row %d: new_user %d without --new-users", split, i, v)
			}
		}
	}
	// The history a test example sees is the last 7 days' visits, not 3
	// weeks': fewer visits behind every user's first held-out example.
	firstHistory := func(dir string) map[int64]int64 {
		d := read(dir, "test")
		ids, _ := column[int64](t, d, "user_id")
		hv, _ := column[int64](t, d, "history_visits")
		m := map[int64]int64{}
		for i, id := range ids {
			if _, ok := m[id]; !ok {
				m[id] = hv[i]
			}
		}
		return m
	}
	hFull, hFresh := firstHistory(full), firstHistory(fresh)
	for id, n := range hFresh {
		if n >= hFull[id] || n > hFull[id]/2 {
			t.Errorf("user %d: %d visits of history at the test split as a new user, %d in full", id, n, hFull[id])
		}
	}
	// A share picks users, not rows: every user's rows agree.
	if _, err := NextDestination(in, t.TempDir(), Config{HoldoutWeeks: 1, NewUsers: 1.5}); err == nil {
		t.Error("--new-users 1.5 accepted")
	}
	half := t.TempDir()
	if _, err := NextDestination(in, half, Config{HoldoutWeeks: 1, NewUsers: 0.5}); err != nil {
		t.Fatal(err)
	}
	d := read(half, "train")
	ids, _ := column[int64](t, d, "user_id")
	isNew, _ := column[int64](t, d, "new_user")
	byUser := map[int64]int64{}
	for i, id := range ids {
		if v, ok := byUser[id]; ok && v != isNew[i] {
			t.Fatalf("user %d has rows marked new and not new", id)
		}
		byUser[id] = isNew[i]
	}
	var n int64
	for _, v := range byUser {
		n += v
	}
	if n == 0 || n == int64(len(byUser)) {
		t.Errorf("--new-users 0.5 marked %d of %d users", n, len(byUser))
	}
}

// --new-user-days LO-HI gives each new user a history of its own length,
// drawn per user: a user's rows are those of a run where every new user
// has that many days, and say how many in new_user_days.
func TestNextDestinationNewUserDaysRange(t *testing.T) {
	in := generate(t, 24, 4)
	mixed := t.TempDir()
	if _, err := NextDestination(in, mixed, Config{HoldoutWeeks: 1, NewUsers: 1, NewUserDaysMin: 1, NewUserDays: 5}); err != nil {
		t.Fatal(err)
	}
	// rowsByUser is each user's rows of a split as (new_user_days,
	// history_visits, label) triples.
	rowsByUser := func(dir, split string) map[int64][][3]int64 {
		d, err := dataset.Read(filepath.Join(dir, split+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := column[int64](t, d, "user_id")
		days, _ := column[int64](t, d, "new_user_days")
		hv, _ := column[int64](t, d, "history_visits")
		label, _ := column[int64](t, d, "label")
		m := map[int64][][3]int64{}
		for i, id := range ids {
			m[id] = append(m[id], [3]int64{days[i], hv[i], label[i]})
		}
		return m
	}
	seen := map[int64]int{}
	for _, split := range []string{"train", "test"} {
		got := rowsByUser(mixed, split)
		fixed := map[int64]map[int64][][3]int64{}
		for id, rows := range got {
			d := rows[0][0]
			if d < 1 || d > 5 {
				t.Fatalf("user %d: new_user_days %d outside 1–5", id, d)
			}
			seen[d]++
			if fixed[d] == nil {
				dir := t.TempDir()
				if _, err := NextDestination(in, dir, Config{HoldoutWeeks: 1, NewUsers: 1, NewUserDays: int(d)}); err != nil {
					t.Fatal(err)
				}
				fixed[d] = rowsByUser(dir, split)
			}
			want := fixed[d][id]
			if len(rows) != len(want) {
				t.Fatalf("%s: user %d with %d days: %d rows, %d when every new user has %d days", split, id, d, len(rows), len(want), d)
			}
			for i := range rows {
				if rows[i] != want[i] {
					t.Fatalf("%s: user %d row %d: %v, want %v", split, id, i, rows[i], want[i])
				}
			}
		}
	}
	if len(seen) < 3 {
		t.Errorf("24 users drew only %d distinct history lengths from 1–5: %v", len(seen), seen)
	}
	// Users who are not new say 0; a fixed length says it on every row.
	for _, c := range []struct {
		cfg  Config
		want int64
	}{{Config{HoldoutWeeks: 1}, 0}, {Config{HoldoutWeeks: 1, NewUsers: 1, NewUserDays: 3}, 3}} {
		dir := t.TempDir()
		if _, err := NextDestination(in, dir, c.cfg); err != nil {
			t.Fatal(err)
		}
		for id, rows := range rowsByUser(dir, "train") {
			if rows[0][0] != c.want {
				t.Fatalf("%+v: user %d new_user_days %d, want %d", c.cfg, id, rows[0][0], c.want)
			}
		}
	}
	if _, err := NextDestination(in, t.TempDir(), Config{HoldoutWeeks: 1, NewUsers: 1, NewUserDaysMin: 6, NewUserDays: 2}); err == nil {
		t.Error("--new-user-days 6-2 accepted")
	}
}
