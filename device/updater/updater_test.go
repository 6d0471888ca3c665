package updater

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/device/store"
)

func TestInstallLoadAndUpToDate(t *testing.T) {
	e := newEnv(t, nil, 0, nil)
	t1, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 100 << 10, seed: 1})
	e.ver.set(t1)
	rep := mustCheckIn(t, e.u)
	if !rep.Outcomes[0].Installed {
		t.Fatalf("not installed: %s", fmtOutcomes(rep))
	}
	if v := e.current(t); v != "1.0.0" {
		t.Fatalf("current %s, want 1.0.0", v)
	}
	fetched := e.u.Fetched()
	rep = mustCheckIn(t, e.u)
	if !rep.Outcomes[0].UpToDate || e.u.Fetched() != fetched {
		t.Fatalf("second check-in: %s, fetched %d more bytes", fmtOutcomes(rep), e.u.Fetched()-fetched)
	}
	m := e.ver.seen[len(e.ver.seen)-1]
	if m.Installed["eta"] != "1.0.0" || m.RuntimeVersion != RuntimeVersion || !slices.Contains(m.Ops, "Mul") {
		t.Errorf("check-in manifest %+v lacks the installed version, runtime or ops", m)
	}
	ents, _ := os.ReadDir(e.st.DownloadDir())
	if len(ents) != 0 {
		t.Errorf("downloads left behind: %v", ents)
	}
}

func TestUpdateKeepsLastKnownGood(t *testing.T) {
	e := newEnv(t, nil, 0, nil)
	t1, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 10 << 10, seed: 1})
	t2, _ := e.publish(t, spec{version: "1.1.0", scale: 3, pad: 10 << 10, seed: 2})
	e.ver.set(t1)
	mustCheckIn(t, e.u)
	e.ver.set(t2)
	mustCheckIn(t, e.u)
	st, _ := e.st.State("eta")
	if st.Current != "1.1.0" || st.LastKnownGood != "1.0.0" {
		t.Fatalf("state %+v, want current 1.1.0 and last known good 1.0.0", st)
	}
	if err := e.st.Rollback("eta"); err != nil {
		t.Fatal(err)
	}
	if v := e.current(t); v != "1.0.0" {
		t.Fatalf("after rollback current is %s", v)
	}
	// The rolled-back bundle is not fetched again.
	before := e.u.Fetched()
	rep, _ := e.u.CheckIn(context.Background())
	var se *SelfTestError
	if !errors.As(rep.Outcomes[0].Err, &se) || e.u.Fetched() != before {
		t.Errorf("rolled-back target: %s, fetched %d bytes", fmtOutcomes(rep), e.u.Fetched()-before)
	}
}

func TestSelfTestFailureKeepsPrevious(t *testing.T) {
	e := newEnv(t, nil, 0, nil)
	t1, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 10 << 10, seed: 1})
	bad, _ := e.publish(t, spec{version: "1.1.0", scale: 3, pad: 10 << 10, seed: 2, badGolden: true})
	e.ver.set(t1)
	mustCheckIn(t, e.u)
	e.ver.set(bad)
	var phases []Phase
	e.u.cfg.Progress = func(p Progress) { phases = append(phases, p.Phase) }
	_, err := e.u.CheckIn(context.Background())
	var se *SelfTestError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *SelfTestError", err)
	}
	if v := e.current(t); v != "1.0.0" {
		t.Fatalf("current %s after a failed self-test, want 1.0.0", v)
	}
	if _, err := os.Stat(e.st.Path("eta", "1.1.0")); !os.IsNotExist(err) {
		t.Errorf("rejected bundle still on disk: %v", err)
	}
	if !slices.Contains(phases, Rejected) || slices.Contains(phases, Committed) {
		t.Errorf("progress phases %v", phases)
	}
	before := e.u.Fetched()
	e.u.CheckIn(context.Background())
	if e.u.Fetched() != before {
		t.Errorf("a rejected bundle was fetched again (%d bytes)", e.u.Fetched()-before)
	}
}

// TestVersionSkew: an old SDK never installs a bundle that needs a newer
// runtime or ops it lacks; a new SDK installs old bundles.
func TestVersionSkew(t *testing.T) {
	cases := []struct {
		name, runtime, minRuntime string
		extraOp                   string
		ok                        bool
	}{
		{"old SDK, new bundle", "0.1.0", "0.2.0", "", false},
		{"old SDK, bundle with an op it lacks", "0.1.0", "0.1.0", "FancyAttention", false},
		{"new SDK, old bundle", "0.3.0", "0.1.0", "", true},
		{"same version", "0.1.0", "0.1.0", "", true},
		{"pre-release runtime is older than its release", "0.2.0-rc.1", "0.2.0", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil, 0, func(cfg *Config) {
				cfg.Runtime = ThisRuntime()
				cfg.Runtime.Version = c.runtime
			})
			tg, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 1 << 10, seed: 1, minRuntime: c.minRuntime})
			tg.MinRuntimeVersion = c.minRuntime
			if c.extraOp != "" {
				tg.Ops = append(tg.Ops, c.extraOp)
			}
			e.ver.set(tg)
			rep, err := e.u.CheckIn(context.Background())
			if err != nil {
				t.Fatalf("check-in: %v", err)
			}
			o := rep.Outcomes[0]
			if o.Installed != c.ok {
				t.Fatalf("installed=%v, want %v (%v)", o.Installed, c.ok, o.Err)
			}
			if !c.ok {
				var ie *IncompatibleError
				if !errors.As(o.Err, &ie) {
					t.Fatalf("got %v, want *IncompatibleError", o.Err)
				}
				if e.u.Fetched() != 0 {
					t.Errorf("fetched %d bytes of an incompatible bundle", e.u.Fetched())
				}
			}
		})
	}
}

func TestVerificationErrors(t *testing.T) {
	t.Run("hash mismatch", func(t *testing.T) {
		e := newEnv(t, nil, 0, nil)
		tg, b := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 1 << 10, seed: 1})
		evil := append([]byte(nil), b.data...)
		evil[len(evil)-1] ^= 1
		e.srv.put(tg.SHA256, evil) // the server lies about the content
		e.ver.set(tg)
		_, err := e.u.CheckIn(context.Background())
		var ve *VerificationError
		if !errors.As(err, &ve) {
			t.Fatalf("got %v, want *VerificationError", err)
		}
		if ents, _ := os.ReadDir(e.st.DownloadDir()); len(ents) != 0 {
			t.Errorf("partial download kept after a hash mismatch: %v", ents)
		}
		if _, _, err := e.st.Load("eta"); !errors.Is(err, store.ErrNotInstalled) {
			t.Errorf("load after a rejected first install: %v", err)
		}
	})
	t.Run("endless data", func(t *testing.T) {
		e := newEnv(t, nil, 0, nil)
		tg, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 4 << 20, seed: 1})
		tg.Length = 1000 // metadata says 1000 bytes; the server sends 4 MiB
		e.ver.set(tg)
		_, err := e.u.CheckIn(context.Background())
		var ve *VerificationError
		if !errors.As(err, &ve) || ve.Reason != "endless data" {
			t.Fatalf("got %v, want an endless-data *VerificationError", err)
		}
		if got := e.u.Fetched(); got > tg.Length+64<<10 {
			t.Errorf("read %d bytes for a %d-byte target", got, tg.Length)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		e := newEnv(t, nil, 0, nil)
		e.ver.err = errors.New("bad signature on targets")
		_, err := e.u.CheckIn(context.Background())
		var ve *VerificationError
		if !errors.As(err, &ve) {
			t.Errorf("got %v, want *VerificationError", err)
		}
		e.ver.err = expiredErr{}
		if _, err := e.u.CheckIn(context.Background()); !errors.Is(err, ErrExpired) {
			t.Errorf("got %v, want ErrExpired", err)
		}
	})
}

type expiredErr struct{}

func (expiredErr) Error() string { return "timestamp expired" }
func (expiredErr) Expired() bool { return true }

func TestStorageBudget(t *testing.T) {
	e := newEnv(t, nil, 0, nil)
	var ts []Target
	var size int64
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		tg, b := e.publish(t, spec{version: v, scale: float32(i + 1), pad: 100 << 10, seed: uint64(i)})
		ts = append(ts, tg)
		size = max(size, int64(len(b.data)))
	}
	// Room for three bundles: installing the fourth evicts the first,
	// never the current or the last known good.
	e.reopen(t, nil, 3*size+size/2, nil)
	for _, tg := range ts {
		e.ver.set(tg)
		mustCheckIn(t, e.u)
	}
	st, _ := e.st.State("eta")
	var have []string
	for _, v := range st.Versions {
		have = append(have, v.Version)
	}
	if st.Current != "1.3.0" || st.LastKnownGood != "1.2.0" || slices.Contains(have, "1.0.0") {
		t.Fatalf("state %+v: want 1.0.0 evicted, 1.3.0 current, 1.2.0 last known good", st)
	}
	if _, err := os.Stat(e.st.Path("eta", "1.0.0")); !os.IsNotExist(err) {
		t.Errorf("evicted file remains: %v", err)
	}
	// A budget that cannot hold current + last known good + the new one.
	e.reopen(t, nil, 2*size+size/2, nil)
	t5, _ := e.publish(t, spec{version: "1.4.0", scale: 9, pad: 100 << 10, seed: 9})
	e.reopen(t, nil, 2*size+size/2, nil)
	e.ver.set(t5)
	// 1.1.0 is evictable; after that current+lkg+new = 3 bundles > 2.5.
	_, err := e.u.CheckIn(context.Background())
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("got %v, want ErrNoSpace", err)
	}
	if v := e.current(t); v != "1.3.0" {
		t.Errorf("current %s after ErrNoSpace", v)
	}
}

func TestDownloadConditions(t *testing.T) {
	cond := Conditions{}
	e := newEnv(t, nil, 0, func(c *Config) {
		c.LargeBytes = 1 << 20
		c.Conditions = func() Conditions { return cond }
	})
	small, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 10 << 10, seed: 1})
	e.ver.set(small)
	rep := mustCheckIn(t, e.u)
	if !rep.Outcomes[0].Installed {
		t.Fatalf("a small bundle waits on a metered network: %s", fmtOutcomes(rep))
	}
	large, _ := e.publish(t, spec{version: "2.0.0", scale: 3, pad: 2 << 20, seed: 2})
	e.ver.set(large)
	for _, c := range []Conditions{{}, {Unmetered: true}, {Charging: true}} {
		cond = c
		before := e.u.Fetched()
		rep := mustCheckIn(t, e.u)
		if !errors.Is(rep.Outcomes[0].Err, ErrDeferred) || e.u.Fetched() != before {
			t.Fatalf("conditions %+v: %s, fetched %d", c, fmtOutcomes(rep), e.u.Fetched()-before)
		}
	}
	cond = Conditions{Unmetered: true, Charging: true}
	if rep := mustCheckIn(t, e.u); !rep.Outcomes[0].Installed {
		t.Fatalf("unmetered and charging: %s", fmtOutcomes(rep))
	}
}

func TestProgress(t *testing.T) {
	var ps []Progress
	e := newEnv(t, nil, 0, func(c *Config) { c.Progress = func(p Progress) { ps = append(ps, p) } })
	tg, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 1 << 20, seed: 1})
	e.ver.set(tg)
	mustCheckIn(t, e.u)
	var last int64
	var phases []Phase
	for _, p := range ps {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if p.Phase == Downloading {
			if p.Done < last || p.Total != tg.Length {
				t.Fatalf("progress %+v after %d", p, last)
			}
			last = p.Done
		}
	}
	if last != tg.Length {
		t.Errorf("download progress ended at %d of %d", last, tg.Length)
	}
	want := []Phase{Downloading, Installing, SelfTesting, Committed}
	if !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
}
