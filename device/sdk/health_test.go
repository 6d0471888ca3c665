package sdk

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/device/store"
)

// exposures collects the SDK's exposure events.
type exposures struct {
	mu  sync.Mutex
	got []Exposure
}

func (e *exposures) add(x Exposure) {
	e.mu.Lock()
	e.got = append(e.got, x)
	e.mu.Unlock()
}

func (e *exposures) versions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var v []string
	for _, x := range e.got {
		v = append(v, x.Model+"@"+x.Version+"/"+string(x.Source))
	}
	return v
}

func entry(t *testing.T, r *health.Report, version string) health.Entry {
	t.Helper()
	if r != nil {
		for _, e := range r.Entries {
			if e.Model == "eta" && e.Version == version {
				return e
			}
		}
	}
	t.Fatalf("no health entry for eta@%s in %+v", version, r)
	return health.Entry{}
}

// TestExposureAndHealth: the first answer of each version emits one
// exposure, also across restarts (not at assignment, not on later
// answers); answers, loads, memory, outcomes and sessions — a crashed one
// too — land in the health report the next check-in carries.
func TestExposureAndHealth(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	install(t, dir, "1.2.0", makeBundle(t, "1.2.0", 3))
	var ex exposures
	open := func() *SDK {
		s, err := Open(ctx, Config{Dir: dir, Exposure: ex.add})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := open()
	if len(ex.versions()) != 0 {
		t.Fatal("exposure at load, before any answer")
	}
	for range 3 {
		r, err := s.Predict(ctx, "eta", input())
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, r, "1.2.0", 3)
	}
	if got := ex.versions(); !slices.Equal(got, []string{"eta@1.2.0/" + string(router.SourceDevice)}) {
		t.Fatalf("exposures %v", got)
	}
	s.ReportOutcome("eta", "1.2.0", true)
	e := entry(t, s.Health().Take(), "1.2.0")
	if e.Inferences != 3 || e.InferenceErrors != 0 || e.Loads != 1 || e.LoadFailures != 0 || e.PeakMemoryMB < 1 ||
		e.Labeled != 1 || e.Top1 != 1 || e.Sessions != 0 {
		t.Fatalf("health %+v", e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart: no second exposure; the clean session is counted.
	s = open()
	if _, err := s.Predict(ctx, "eta", input()); err != nil {
		t.Fatal(err)
	}
	if n := len(ex.versions()); n != 1 {
		t.Fatalf("%d exposures after a restart", n)
	}
	if e := entry(t, s.Health().Take(), "1.2.0"); e.Sessions != 1 || e.Crashes != 0 {
		t.Fatalf("session %+v", e)
	}
	// The process dies before Close: the marker stays unclean.
	marker, err := os.ReadFile(filepath.Join(dir, sessionFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sessionFile), marker, 0o644); err != nil {
		t.Fatal(err)
	}

	// A new version is exposed at its first answer; the crash is counted.
	install(t, dir, "1.3.0", makeBundle(t, "1.3.0", 4))
	s = open()
	defer s.Close()
	if e := entry(t, s.Health().Take(), "1.2.0"); e.Sessions != 1 || e.Crashes != 1 {
		t.Fatalf("crashed session %+v", e)
	}
	if len(ex.versions()) != 1 {
		t.Fatal("exposure of 1.3.0 before it answered")
	}
	if _, err := s.Predict(ctx, "eta", input()); err != nil {
		t.Fatal(err)
	}
	if got := ex.versions(); len(got) != 2 || got[1] != "eta@1.3.0/"+string(router.SourceDevice) {
		t.Fatalf("exposures %v", got)
	}
}

// TestLoadFailureCounts: a current version that does not open counts as a
// load failure of that version, while its last known good answers.
func TestLoadFailureCounts(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "1.2.0", makeBundle(t, "1.2.0", 3))
	install(t, dir, "1.3.0", makeBundle(t, "1.3.0", 4))
	st, err := store.Open(nil, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(st.Path("eta", "1.3.0"), 100); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Predict(context.Background(), "eta", input())
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, r, "1.2.0", 3)
	rep := s.Health().Take()
	if bad, good := entry(t, rep, "1.3.0"), entry(t, rep, "1.2.0"); bad.Loads != 1 || bad.LoadFailures != 1 ||
		good.Loads != 1 || good.LoadFailures != 0 || good.Inferences != 1 {
		t.Fatalf("health %+v", rep.Entries)
	}
}
