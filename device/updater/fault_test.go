package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/store/crashfs"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
)

// faultEnv is a device with 1.0.0 installed (kept as a template to copy)
// and a server offering 1.1.0, a 3 MiB bundle.
type faultEnv struct {
	*env
	template string
	t1, t2   Target
}

func newFaultEnv(t *testing.T) *faultEnv {
	e := newEnv(t, nil, 0, nil)
	t1, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 64 << 10, seed: 1})
	t2, _ := e.publish(t, spec{version: "1.1.0", scale: 3, pad: 3 << 20, seed: 2})
	e.ver.set(t1)
	mustCheckIn(t, e.u)
	e.ver.set(t2)
	return &faultEnv{env: e, template: filepath.Join(e.dir, "store"), t1: t1, t2: t2}
}

// fresh copies the template store to a new directory.
func (f *faultEnv) fresh(t *testing.T) string {
	dst := filepath.Join(t.TempDir(), "store")
	err := filepath.WalkDir(f.template, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.template, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// afterCrash checks that the store at dir loads a verified model, the old
// or the new, then finishes the update and returns the bytes the resumed
// run fetched.
func (f *faultEnv) afterCrash(t *testing.T, dir, what string) (was string, resumed int64) {
	t.Helper()
	st, err := store.Open(nil, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, v, err := st.Load("eta")
	if err != nil {
		t.Fatalf("%s: no loadable model: %v", what, err)
	}
	b.Close()
	sum := hashFile(store.OS, st.Path("eta", v.Version))
	if !(v.Version == "1.0.0" && sum == f.t1.SHA256 || v.Version == "1.1.0" && sum == f.t2.SHA256) {
		t.Fatalf("%s: current %s hashes to %s, not a verified bundle", what, v.Version, sum)
	}
	u, err := New(st, Config{Verifier: f.ver, BlobURL: f.srv.url, Transport: httptransport.New(f.srv.Client()), CopyBufferBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := u.CheckIn(context.Background())
	if err != nil {
		t.Fatalf("%s: resumed check-in: %v", what, err)
	}
	if o := rep.Outcomes[0]; !o.Installed && !o.UpToDate {
		t.Fatalf("%s: %s", what, fmtOutcomes(rep))
	}
	b, v, err = st.Load("eta")
	if err != nil || v.Version != "1.1.0" {
		t.Fatalf("%s: after resuming: %v %v", what, v, err)
	}
	b.Close()
	return v.Version, u.Fetched()
}

const childEnv = "SEXTANT_UPDATER_CHILD"

// childArgs is what the parent tells a child updater.
type childArgs struct {
	Dir    string
	Base   string
	Target Target
	KillAt int // SIGKILL self at this pipeline point (1-based); 0: never
}

// TestUpdaterChild is the child process of TestKillAtRandomPoints; it does
// nothing in a normal run.
func TestUpdaterChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("runs only as TestKillAtRandomPoints' child process")
	}
	var a childArgs
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(nil, a.Dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(st, Config{
		Verifier:        &verifier{targets: []Target{a.Target}},
		BlobURL:         func(sha string) string { return a.Base + "/blobs/sha256/" + sha },
		Transport:       httptransport.New(nil),
		CopyBufferBytes: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var names []string
	u.hook = func(p string) {
		n++
		names = append(names, p)
		if n == a.KillAt {
			// Tell the parent how much arrived before the kill.
			os.WriteFile(a.Dir+".fetched", []byte(strconv.FormatInt(u.Fetched(), 10)), 0o644)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	if _, err := u.CheckIn(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("POINTS %d %s\n", n, strings.Join(names, ","))
}

// TestKillAtRandomPoints SIGKILLs a child updater at 100 random points of
// the pipeline (download, verify, fsync, rename, load, self-test, commit);
// afterwards the device always loads a verified model, and the resumed
// update re-fetches at most 1 MiB.
func TestKillAtRandomPoints(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child")
	}
	f := newFaultEnv(t)
	run := func(dir string, killAt int) (string, error) {
		b, _ := json.Marshal(childArgs{Dir: dir, Base: f.srv.URL, Target: f.t2, KillAt: killAt})
		cmd := exec.Command(os.Args[0], "-test.run=^TestUpdaterChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+string(b))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(f.fresh(t), 0)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var total int
	var names string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "POINTS "); ok {
			n, list, _ := strings.Cut(rest, " ")
			total, _ = strconv.Atoi(n)
			names = list
		}
	}
	if total < 10 {
		t.Fatalf("only %d kill points:\n%s", total, out)
	}
	kinds := map[string]int{}
	for _, p := range strings.Split(names, ",") {
		kinds[p]++
	}
	t.Logf("%d kill points per update: %v", total, kinds)
	r := rand.New(rand.NewPCG(7, 7))
	var maxRefetch int64
	killed := map[string]int{}
	pts := strings.Split(names, ",")
	// Draw a phase uniformly, then one of its points, so the rare phases
	// (fsync, rename, load…) are hit as often as the many download points.
	var kindList []string
	at := map[string][]int{}
	for i, p := range strings.Split(names, ",") {
		if len(at[p]) == 0 {
			kindList = append(kindList, p)
		}
		at[p] = append(at[p], i+1)
	}
	for i := range 100 {
		idx := at[kindList[r.IntN(len(kindList))]]
		k := idx[r.IntN(len(idx))]
		dir := f.fresh(t)
		out, err := run(dir, k)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: child killed at point %d did not die by SIGKILL: %v\n%s", i, k, err, out)
		}
		killed[pts[k-1]]++
		what := fmt.Sprintf("killed at point %d (%s)", k, pts[k-1])
		raw, err := os.ReadFile(dir + ".fetched")
		if err != nil {
			t.Fatal(err)
		}
		before, _ := strconv.ParseInt(string(raw), 10, 64)
		_, resumed := f.afterCrash(t, dir, what)
		if re := before + resumed - f.t2.Length; re > maxRefetch {
			maxRefetch = re
		}
	}
	t.Logf("kills by point: %v; worst re-fetch %d bytes", killed, maxRefetch)
	if maxRefetch > 1<<20 {
		t.Errorf("a resumed download re-fetched %d bytes, want ≤ 1 MiB", maxRefetch)
	}
}

// TestCrashDropsUnsyncedWrites runs the update over a file system that
// loses every write not yet synced, stopping it at each mutating operation
// in turn; after each simulated power loss the device loads a verified
// model and the resumed update re-fetches at most 1 MiB.
func TestCrashDropsUnsyncedWrites(t *testing.T) {
	f := newFaultEnv(t)
	count := func() int {
		dir := f.fresh(t)
		cfs, err := crashfs.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := store.Open(cfs, dir, 0)
		u, _ := New(st, Config{Verifier: f.ver, BlobURL: f.srv.url, Transport: httptransport.New(f.srv.Client()), CopyBufferBytes: 64 << 10})
		mustCheckIn(t, u)
		return cfs.Ops()
	}
	n := count()
	t.Logf("%d mutating file-system operations per update", n)
	var maxRefetch int64
	for k := range n {
		dir := f.fresh(t)
		cfs, err := crashfs.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(cfs, dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		cfs.FailAfter(k)
		u, _ := New(st, Config{Verifier: f.ver, BlobURL: f.srv.url, Transport: httptransport.New(f.srv.Client()), CopyBufferBytes: 64 << 10})
		_, err = u.CheckIn(context.Background())
		if k < n && !errors.Is(err, crashfs.ErrCrashed) {
			// Some operations' failures are only logged (cleanup);
			// the update then completes, which is fine.
			if err != nil {
				t.Fatalf("op %d: %v", k, err)
			}
		}
		before := u.Fetched()
		if err := cfs.Crash(); err != nil {
			t.Fatal(err)
		}
		_, resumed := f.afterCrash(t, dir, fmt.Sprintf("power lost at op %d of %d", k, n))
		if re := before + resumed - f.t2.Length; re > maxRefetch {
			maxRefetch = re
			t.Logf("op %d: re-fetched %d (before crash %d, resumed %d)", k, re, before, resumed)
		}
	}
	t.Logf("worst re-fetch after a power loss: %d bytes", maxRefetch)
	if maxRefetch > 1<<20 {
		t.Errorf("a resumed download re-fetched %d bytes, want ≤ 1 MiB", maxRefetch)
	}
}
