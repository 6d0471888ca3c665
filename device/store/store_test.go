package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/store/crashfs"
)

// put installs a fake bundle of n bytes as version v.
func put(t *testing.T, s *store.Store, v string, n int) {
	t.Helper()
	part := filepath.Join(s.DownloadDir(), v+".part")
	if err := os.WriteFile(part, make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Install("m", store.Version{Version: v, Size: int64(n), SHA256: v}, part); err != nil {
		t.Fatal(err)
	}
}

func TestReserveNeverEvictsCurrentOrLastKnownGood(t *testing.T) {
	s, err := store.Open(nil, t.TempDir(), 4000)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		put(t, s, v, 1000)
	}
	s.Commit("m", "1.0.0")
	s.Commit("m", "3.0.0") // current 3.0.0, last known good 1.0.0; 2.0.0 evictable
	if err := s.Reserve(2000); err != nil {
		t.Fatal(err)
	}
	st, _ := s.State("m")
	if _, ok := st.Find("2.0.0"); ok || st.Current != "3.0.0" || st.LastKnownGood != "1.0.0" {
		t.Fatalf("state after reserve: %+v", st)
	}
	if err := s.Reserve(2500); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("got %v, want ErrNoSpace", err)
	}
	if used, _ := s.Used(); used != 2000 {
		t.Errorf("used %d after a refused reserve, want 2000 (nothing evicted)", used)
	}
}

func TestCheckNameRejectsPaths(t *testing.T) {
	for _, n := range []string{"", "..", "../x", "a/b", ".hidden", "a\\b"} {
		if store.CheckName("model", n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
	if err := store.CheckName("version", "1.2.3-rc.1+b7"); err != nil {
		t.Error(err)
	}
}

// TestCrashFSDropsUnsynced checks the simulator itself: unsynced data and
// undirsynced names are lost; synced ones survive.
func TestCrashFSDropsUnsynced(t *testing.T) {
	dir := t.TempDir()
	c, err := crashfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	f, _ := c.OpenFile(a, os.O_WRONLY|os.O_CREATE, 0o644)
	f.Write([]byte("durable"))
	f.Sync()
	f.Write([]byte(" lost"))
	f.Close()
	c.SyncDir(dir)
	g, _ := c.OpenFile(b, os.O_WRONLY|os.O_CREATE, 0o644)
	g.Write([]byte("synced data, unsynced name"))
	g.Sync()
	g.Close()
	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(a); string(got) != "durable" {
		t.Errorf("a = %q, want %q", got, "durable")
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Errorf("b survived without a directory sync: %v", err)
	}
	// A rename made durable without syncing the data leaves an empty file.
	h, _ := c.OpenFile(b, os.O_WRONLY|os.O_CREATE, 0o644)
	h.Write([]byte("new"))
	h.Close()
	c.Rename(b, a)
	c.SyncDir(dir)
	c.Crash()
	if got, err := os.ReadFile(a); err != nil || len(got) != 0 {
		t.Errorf("a = %q (%v), want empty: data never synced", got, err)
	}
}
