package ledger

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/privacy/accountant"
)

func TestLedgerSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "privacy.json")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		if err := l.Record(Entry{Lineage: "eta", Task: "eta-fl-1", Q: 0.01, NoiseMultiplier: 1.1, Count: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(Entry{Lineage: "eta", Task: "eta-fl-2", Q: 0.02, NoiseMultiplier: 0.9, Count: 50}); err != nil {
		t.Fatal(err)
	}
	before, err := l.Lineage("eta", 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	task1, _ := l.Task("eta-fl-1", 1e-6)
	// The lineage total is the composition of everything it saw.
	want, _, _ := accountant.SampledGaussianEpsilon(0.01, 1.1, 500, 1e-6, nil, accountant.Improved)
	if task1.Epsilon != want {
		t.Fatalf("task ε %v, want %v", task1.Epsilon, want)
	}
	if !(before.Epsilon > task1.Epsilon) {
		t.Fatalf("lineage ε %v not above one task's %v", before.Epsilon, task1.Epsilon)
	}
	reopened, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := reopened.Lineage("eta", 1e-6)
	if after != before {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	if len(reopened.Entries()) != 6 {
		t.Fatalf("%d entries after restart", len(reopened.Entries()))
	}
	// No temporary files are left behind.
	files, _ := os.ReadDir(filepath.Dir(path))
	if len(files) != 1 {
		t.Fatalf("directory holds %d files", len(files))
	}
}

func TestLedgerRejectsInvalidEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "privacy.json")
	l, _ := Open(path)
	for _, e := range []Entry{{Lineage: "x", Q: 2, NoiseMultiplier: 1, Count: 1}, {Q: 0.1, NoiseMultiplier: 1, Count: 1}, {Task: "t", Q: 0.1, NoiseMultiplier: 1, Count: -1}} {
		if err := l.Record(e); err == nil {
			t.Errorf("%+v accepted", e)
		}
	}
	if len(l.Entries()) != 0 {
		t.Fatal("rejected entries were recorded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("file written for rejected entries")
	}
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := Open(path); err == nil {
		t.Fatal("corrupt ledger opened")
	}
}
