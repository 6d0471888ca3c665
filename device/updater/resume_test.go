package updater

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/device/delta"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
)

// TestResumeAfterDrop: a connection dropped mid-download resumes with
// Range + If-Range and re-fetches at most one checkpoint interval.
func TestResumeAfterDrop(t *testing.T) {
	e := newEnv(t, nil, 0, nil)
	tg, _ := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 3 << 20, seed: 1})
	e.ver.set(tg)
	e.srv.cutAfter.Store(2<<20 + 100<<10)
	_, err := e.u.CheckIn(context.Background())
	var ne *NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("got %v, want *NetworkError", err)
	}
	first := e.u.Fetched()
	rep := mustCheckIn(t, e.u)
	if !rep.Outcomes[0].Installed {
		t.Fatalf("%s", fmtOutcomes(rep))
	}
	last := e.srv.reqs[len(e.srv.reqs)-1]
	if last.Header.Get("Range") == "" || last.Header.Get("If-Range") != `"`+tg.SHA256+`"` {
		t.Errorf("resume request headers %v", last.Header)
	}
	refetch := e.u.Fetched() - tg.Length
	t.Logf("dropped after %d bytes; resumed download re-fetched %d bytes", first, refetch)
	if refetch > 1<<20 || refetch < 0 {
		t.Errorf("re-fetched %d bytes, want ≤ 1 MiB", refetch)
	}
	if v := e.current(t); v != "1.0.0" {
		t.Errorf("current %s", v)
	}
}

// TestResumeChangedFileRestarts: when the file behind the URL changed
// between attempts (a stale cache served the first part), If-Range makes
// the server send the whole new file, and the download restarts cleanly.
func TestResumeChangedFileRestarts(t *testing.T) {
	e := newEnv(t, nil, 0, nil)
	tg, good := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 2 << 20, seed: 1})
	stale := bytes.Clone(good.data)
	for i := 200; i < 1<<20; i += 4096 {
		stale[i] ^= 0xff
	}
	e.srv.put(tg.SHA256, stale)
	e.srv.etag[tg.SHA256] = `"stale"`
	e.srv.cutAfter.Store(1<<20 + 1000)
	e.ver.set(tg)
	if _, err := e.u.CheckIn(context.Background()); err == nil {
		t.Fatal("the cut download succeeded")
	}
	e.srv.put(tg.SHA256, good.data)
	delete(e.srv.etag, tg.SHA256)
	rep := mustCheckIn(t, e.u)
	if !rep.Outcomes[0].Installed {
		t.Fatalf("%s", fmtOutcomes(rep))
	}
	last := e.srv.reqs[len(e.srv.reqs)-1]
	if last.Header.Get("If-Range") != `"stale"` {
		t.Errorf("resume sent If-Range %q", last.Header.Get("If-Range"))
	}
	if v := e.current(t); v != "1.0.0" {
		t.Errorf("current %s", v)
	}
}

func TestDeltaUpdate(t *testing.T) {
	e := newEnv(t, nil, 0, nil)
	t1, b1 := e.publish(t, spec{version: "1.0.0", scale: 2, pad: 4 << 20, seed: 1})
	t2, b2 := e.publish(t, spec{version: "1.1.0", scale: 3, pad: 4 << 20, seed: 1, changed: 2000})
	var d bytes.Buffer
	base := sha256.Sum256(b1.data)
	if err := delta.Encode(&d, b1.data, base, b2.data); err != nil {
		t.Fatal(err)
	}
	dsum := sha256.Sum256(d.Bytes())
	e.srv.put(hex.EncodeToString(dsum[:]), d.Bytes())
	t2.Deltas = []Delta{{From: "1.0.0", Length: int64(d.Len()), SHA256: hex.EncodeToString(dsum[:])}}
	e.ver.set(t1)
	mustCheckIn(t, e.u)
	before := e.u.Fetched()
	e.ver.set(t2)
	rep := mustCheckIn(t, e.u)
	o := rep.Outcomes[0]
	got := e.u.Fetched() - before
	t.Logf("bundle %d bytes, delta %d bytes (%.1f%%), fetched %d", t2.Length, d.Len(), 100*float64(d.Len())/float64(t2.Length), got)
	if !o.Installed || !o.Delta || got != int64(d.Len()) {
		t.Fatalf("%s; fetched %d, delta is %d", fmtOutcomes(rep), got, d.Len())
	}
	if v := e.current(t); v != "1.1.0" {
		t.Errorf("current %s", v)
	}

	// A delta that decodes to something else falls back to the full bundle.
	t3, b3 := e.publish(t, spec{version: "1.2.0", scale: 4, pad: 4 << 20, seed: 1, changed: 3000})
	var wrong bytes.Buffer
	if err := delta.Encode(&wrong, b2.data, sha256.Sum256(b2.data), b1.data); err != nil {
		t.Fatal(err)
	}
	wsum := sha256.Sum256(wrong.Bytes())
	e.srv.put(hex.EncodeToString(wsum[:]), wrong.Bytes())
	t3.Deltas = []Delta{{From: "1.1.0", Length: int64(wrong.Len()), SHA256: hex.EncodeToString(wsum[:])}}
	e.ver.set(t3)
	before = e.u.Fetched()
	rep = mustCheckIn(t, e.u)
	if o := rep.Outcomes[0]; !o.Installed || o.Delta || e.u.Fetched()-before != int64(wrong.Len())+int64(len(b3.data)) {
		t.Fatalf("%s; fetched %d", fmtOutcomes(rep), e.u.Fetched()-before)
	}
	if v := e.current(t); v != "1.2.0" {
		t.Errorf("current %s", v)
	}
}

// TestBackoffFullJitter runs Run under synctest: failures back off by
// rand × min(max, base·2^(n−1)); success resets to the interval.
func TestBackoffFullJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No server in the bubble: a listener is not durably blocked, so
		// fake time would never advance.
		st, err := store.Open(nil, t.TempDir(), 0)
		if err != nil {
			t.Fatal(err)
		}
		ver := &verifier{err: &NetworkError{URL: "check-in", Status: http.StatusServiceUnavailable}}
		u, err := New(st, Config{Verifier: ver, BlobURL: func(string) string { return "" }, Transport: httptransport.New(nil),
			Rand:        func() float64 { return 0.5 },
			BackoffBase: 10 * time.Second, BackoffMax: 60 * time.Second, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var at []time.Duration
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		n := 0
		go func() {
			done <- u.Run(ctx, func(r *Report, err error) {
				at = append(at, time.Since(start))
				n++
				if n == 6 {
					ver.mu.Lock()
					ver.err = nil
					ver.mu.Unlock()
				}
				if n == 8 {
					cancel()
				}
			})
		}()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		want := []time.Duration{0, 5 * time.Second, 15 * time.Second, 35 * time.Second, 65 * time.Second, 95 * time.Second, 125 * time.Second, 125*time.Second + time.Hour}
		if len(at) != len(want) {
			t.Fatalf("check-ins at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("check-ins at %v, want %v", at, want)
			}
		}
	})
	// Jitter spreads draws over [0, ceiling).
	u := &Updater{cfg: Config{BackoffBase: time.Second, BackoffMax: time.Minute}, rand: func() float64 { return 0.999 }}
	if d := u.Backoff(3); d >= 4*time.Second || d < 3*time.Second {
		t.Errorf("Backoff(3) with rand 0.999 = %v, want just under 4s", d)
	}
	u.rand = func() float64 { return 0 }
	if d := u.Backoff(40); d != 0 {
		t.Errorf("Backoff(40) with rand 0 = %v", d)
	}
	u.rand = func() float64 { return 0.5 }
	if d := u.Backoff(400); d != 30*time.Second {
		t.Errorf("Backoff(400) = %v, want the cap's half", d)
	}
}
