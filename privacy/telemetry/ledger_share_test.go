package telemetry

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Two holders of the same budgets (a server's replicas) share their spend
// through the mirror and Merge: what one spent counts against the other
// once it has merged, and a failing mirror fails the charge.
func TestLedgerMirrorAndMerge(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a, err := OpenLedger(filepath.Join(dir, "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	var shared []byte
	a.SetMirror(func(doc []byte) error { shared = append([]byte(nil), doc...); return nil })
	if err := a.Spend("health", now, 1.5, 4); err != nil {
		t.Fatal(err)
	}
	if err := a.Spend("health", now, 1, 4); err != nil {
		t.Fatal(err)
	}
	if shared == nil {
		t.Fatal("the mirror was not called")
	}

	b, err := OpenLedger(filepath.Join(dir, "b.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Spend("health", now, 0.5, 4); err != nil { // spent alone before it merged
		t.Fatal(err)
	}
	if err := b.Merge(shared); err != nil {
		t.Fatal(err)
	}
	if got := b.Spent("health", now); got != 2.5 {
		t.Fatalf("after merge b has spent %v, want 2.5 (the larger of 2.5 and 0.5)", got)
	}
	var be *BudgetExceededError
	if err := b.Spend("health", now, 2, 4); !errors.As(err, &be) {
		t.Fatalf("b spent 2 more over a shared budget of 4 (2.5 spent): %v", err)
	}
	// The merge is saved: a restart keeps it.
	b2, err := OpenLedger(filepath.Join(dir, "b.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := b2.Spent("health", now); got != 2.5 {
		t.Fatalf("reopened b has spent %v, want 2.5", got)
	}

	a.SetMirror(func([]byte) error { return errors.New("store down") })
	if err := a.Spend("health", now, 0.5, 4); err == nil {
		t.Fatal("a charge the mirror refused succeeded")
	}
	if got := a.Spent("health", now); got != 3 {
		t.Fatalf("a refused-mirror charge must stay recorded (conservative): spent %v, want 3", got)
	}
	for _, bad := range []string{`{`, `{"version":2,"spent":{}}`, `{"version":1,"spent":{"s":{"nope":1}}}`, `{"version":1,"spent":{"s":{"2026-11-26":-1}}}`} {
		if err := b.Merge([]byte(bad)); err == nil {
			t.Errorf("Merge(%s) accepted", bad)
		}
	}
}
