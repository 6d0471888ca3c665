package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/store"
)

var checkInBody = []byte(`{"installed":{},"runtime_version":"1.0.0","device_class":"high","os":"android 14","app_version":"5.2.0","region":"NL","locale":"nl-NL"}`)

// checkInVia posts a check-in through h and returns the status.
func checkInVia(h http.Handler, id, secret string) int {
	req := httptest.NewRequest("POST", "/v1/devices/"+id+"/checkin", bytes.NewReader(checkInBody))
	req.Header.Set("Authorization", "Bearer "+secret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

// TestFirstCheckInsCoalesced: the device-cache misses that arrive while a
// lookup is at the store are answered by one query, each with its own
// device; an unknown credential among them is refused; cached devices then
// check in without any lookup.
func TestFirstCheckInsCoalesced(t *testing.T) {
	eachStore(t, func(t *testing.T, dsn string) {
		kd, _ := keyDir(t)
		r := start(t, dsn, t.TempDir(), kd, func(c *Config) { c.DeviceRate = Rate{PerSecond: 1e6, Burst: 1e6} })
		const n = 150
		for i := range n {
			if _, err := r.db.RegisterDevice(t.Context(), delivery.Device{ID: fmt.Sprintf("co-%03d", i),
				CredentialHash: delivery.HashSecret(fmt.Sprintf("co-secret-%03d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		h, l := r.srv.Handler(), &r.srv.loader
		// As if a lookup were at the store: every miss queues behind it.
		l.mu.Lock()
		l.running = true
		l.mu.Unlock()
		codes := make([]int, n+1)
		var wg sync.WaitGroup
		for i := range n + 1 {
			wg.Go(func() {
				if i == n {
					codes[i] = checkInVia(h, "co-000", "not-a-device-secret")
					return
				}
				codes[i] = checkInVia(h, fmt.Sprintf("co-%03d", i), fmt.Sprintf("co-secret-%03d", i))
			})
		}
		waitFor(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.pending) == n+1 })
		r.srv.runLoads(context.Background(), r.db)
		wg.Wait()
		for i, c := range codes[:n] {
			if c != http.StatusOK {
				t.Fatalf("device %d: check-in %d", i, c)
			}
		}
		if codes[n] != http.StatusUnauthorized {
			t.Fatalf("unknown credential: %d, want 401", codes[n])
		}
		if q := l.queries.Load(); q != 1 {
			t.Fatalf("%d first check-ins took %d store queries, want 1", n+1, q)
		}
		for i := range n {
			if c := checkInVia(h, fmt.Sprintf("co-%03d", i), fmt.Sprintf("co-secret-%03d", i)); c != http.StatusOK {
				t.Fatalf("device %d: second check-in %d", i, c)
			}
		}
		if q := l.queries.Load(); q != 1 {
			t.Fatalf("cached devices caused store queries (%d in all)", q)
		}
		// Idle, a miss is looked up at once, by itself.
		if c := checkInVia(h, "co-000", "still-not-a-secret"); c != http.StatusUnauthorized || l.queries.Load() != 2 {
			t.Fatalf("lone miss: %d after %d queries", c, l.queries.Load())
		}
	})
}

// TestRestartPreloadsRecentDevices: a starting server fills its device
// cache with the most recently checked-in devices, up to its capacity, so
// their check-ins after the restart need no lookup.
func TestRestartPreloadsRecentDevices(t *testing.T) {
	eachStore(t, func(t *testing.T, dsn string) {
		kd, _ := keyDir(t)
		db, err := store.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			if _, err := db.RegisterDevice(t.Context(), delivery.Device{ID: fmt.Sprintf("pw-%d", i),
				CredentialHash: delivery.HashSecret(fmt.Sprintf("pw-secret-%d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range []int{4, 1, 5} {
			time.Sleep(2 * time.Millisecond) // distinct check-in times (µs)
			if _, err := db.CheckIn(t.Context(), fmt.Sprintf("pw-%d", i), delivery.Attributes{Class: "high"}); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		r := start(t, dsn, t.TempDir(), kd, func(c *Config) { c.MaxLimiterKeys = 2 }) // a cache of two
		cached := func(i int) bool { return r.srv.devices.get(delivery.HashSecret(fmt.Sprintf("pw-secret-%d", i))) != nil }
		waitFor(t, func() bool { return cached(5) && cached(1) })
		if cached(4) || cached(0) {
			t.Fatal("pre-loaded beyond the cache's capacity or a device never seen")
		}
		if c := checkInVia(r.srv.Handler(), "pw-5", "pw-secret-5"); c != http.StatusOK {
			t.Fatalf("check-in %d", c)
		}
		if q := r.srv.loader.queries.Load(); q != 0 {
			t.Fatalf("a pre-loaded device was looked up (%d queries)", q)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
	}
}

// blockingRegistry holds ListModels until release is closed, counting
// calls: a slow store.
type blockingRegistry struct {
	delivery.Registry
	mu      sync.Mutex
	calls   int
	release chan struct{}
}

func (b *blockingRegistry) ListModels(ctx context.Context) ([]delivery.Model, error) {
	b.mu.Lock()
	b.calls++
	ch := b.release
	b.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return b.Registry.ListModels(ctx)
}

// TestExpiredCurrentsServedDuringReload: once the current versions expire,
// one caller reloads them while the others get the expired list without
// waiting; after invalidate everyone waits for fresh ones.
func TestExpiredCurrentsServedDuringReload(t *testing.T) {
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	reg := &blockingRegistry{Registry: db}
	c := newCurrents(reg, clk, 5*time.Second)
	if _, err := c.get(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.advance(6 * time.Second)
	reg.mu.Lock()
	reg.release = make(chan struct{})
	reg.mu.Unlock()
	reloaded := make(chan error, 1)
	go func() { _, err := c.get(t.Context()); reloaded <- err }()
	waitFor(t, func() bool { reg.mu.Lock(); defer reg.mu.Unlock(); return reg.calls == 2 })
	done := make(chan error, 1)
	go func() { _, err := c.get(t.Context()); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a check-in waited for another's reload of expired current versions")
	}
	close(reg.release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	if reg.calls != 2 {
		t.Fatalf("%d reloads, want 2", reg.calls)
	}
	// Fresh again: no reload.
	if _, err := c.get(t.Context()); err != nil || reg.calls != 2 {
		t.Fatalf("fresh list reloaded (%d calls, %v)", reg.calls, err)
	}
	c.invalidate()
	if _, err := c.get(t.Context()); err != nil || reg.calls != 3 {
		t.Fatalf("after invalidate: %d calls, %v", reg.calls, err)
	}
}
