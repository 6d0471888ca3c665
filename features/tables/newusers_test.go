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
