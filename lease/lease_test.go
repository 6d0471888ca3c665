package lease_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/lease"
	"github.com/sextant-ml/sextant/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// campaign runs lease.Campaign in the background and returns a channel of
// the fences it is granted and a stop function that waits for it.
func campaign(t *testing.T, dsn, holder string) (<-chan lease.Fence, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fences := make(chan lease.Fence, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lease.Campaign(ctx, lease.Config{DSN: dsn, Name: "test", Holder: holder, Poll: 50 * time.Millisecond, Logger: quiet},
			func(ctx context.Context, f lease.Fence) {
				fences <- f
				<-ctx.Done()
			})
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return fences, stop
}

func openStore(t *testing.T) (string, *store.DB) {
	dsn := pgtest.Schema(t)
	db, err := store.Open(t.Context(), dsn, store.WithClock(clock.Real))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

func recv(t *testing.T, ch <-chan lease.Fence, within time.Duration) (lease.Fence, bool) {
	t.Helper()
	select {
	case f := <-ch:
		return f, true
	case <-time.After(within):
		return lease.Fence{}, false
	}
}

// TestOneLeaderThenTakeover: of two campaigners one leads; when it stops,
// the other takes over with the next epoch.
func TestOneLeaderThenTakeover(t *testing.T) {
	dsn, _ := openStore(t)
	fa, stopA := campaign(t, dsn, "a")
	first, ok := recv(t, fa, 10*time.Second)
	if !ok {
		t.Fatal("a never became leader")
	}
	fb, _ := campaign(t, dsn, "b")
	if f, ok := recv(t, fb, 500*time.Millisecond); ok {
		t.Fatalf("b leads (%+v) while a holds the lease", f)
	}
	stopA()
	second, ok := recv(t, fb, 5*time.Second)
	if !ok {
		t.Fatal("b did not take over within 5 s")
	}
	if second.Epoch != first.Epoch+1 || second.Name != "test" {
		t.Fatalf("epochs %+v then %+v", first, second)
	}
	var holder string
	var epoch int64
	if err := pgtest.DB(t, dsn).QueryRow(`SELECT holder, epoch FROM leases WHERE name = 'test'`).Scan(&holder, &epoch); err != nil {
		t.Fatal(err)
	}
	if holder != "b" || epoch != second.Epoch {
		t.Fatalf("leases row: %s at %d", holder, epoch)
	}
}

// TestStaleFenceRefused: a deposed leader's writes, made with its old
// fence, are refused by the store; the new leader's and unfenced ones go
// through.
func TestStaleFenceRefused(t *testing.T) {
	dsn, db := openStore(t)
	fa, stopA := campaign(t, dsn, "a")
	old, ok := recv(t, fa, 10*time.Second)
	if !ok {
		t.Fatal("a never became leader")
	}
	save := func(ctx context.Context, state string) error {
		doc, _ := json.Marshal(map[string]string{"state": state})
		return db.SaveRollout(ctx, rollout.Saved{ID: "r1", Model: "m", Document: doc, Updated: time.Now()})
	}
	if err := save(lease.WithFence(t.Context(), old), "a"); err != nil {
		t.Fatalf("current leader's write: %v", err)
	}
	stopA()
	fb, _ := campaign(t, dsn, "b")
	cur, ok := recv(t, fb, 5*time.Second)
	if !ok {
		t.Fatal("b did not take over")
	}
	if err := save(lease.WithFence(t.Context(), old), "late"); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed leader's write: %v, want ErrStale", err)
	}
	if err := db.SetCurrent(lease.WithFence(t.Context(), old), "m", "1"); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed leader's SetCurrent: %v, want ErrStale", err)
	}
	if err := save(lease.WithFence(t.Context(), cur), "b"); err != nil {
		t.Fatalf("new leader's write: %v", err)
	}
	if err := save(lease.WithFence(t.Context(), lease.Fence{Name: "never", Epoch: 1}), "x"); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("write under an ungranted lease: %v", err)
	}
	if err := save(t.Context(), "operator"); err != nil {
		t.Fatalf("unfenced write: %v", err)
	}
}

// TestLeaderLosesConnection: when the lock's connection is terminated
// from the server side, the leader's context ends and another campaigner
// (here the same one, reconnecting) is granted a new epoch.
func TestLeaderLosesConnection(t *testing.T) {
	dsn, _ := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ended := make(chan lease.Fence, 4)
	granted := make(chan lease.Fence, 4)
	go lease.Campaign(ctx, lease.Config{DSN: dsn, Name: "test", Holder: "a", Poll: 50 * time.Millisecond, Logger: quiet},
		func(ctx context.Context, f lease.Fence) {
			granted <- f
			<-ctx.Done()
			ended <- f
		})
	first, ok := recv(t, granted, 10*time.Second)
	if !ok {
		t.Fatal("never became leader")
	}
	admin := pgtest.DB(t, dsn)
	// Terminate the backend holding this schema's lease lock.
	var n int
	err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('sextant-lease/' || current_schema() || '/test', 0)`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminated %d lock holders: %v", n, err)
	}
	if _, ok := recv(t, ended, 5*time.Second); !ok {
		t.Fatal("leader context did not end after its connection was terminated")
	}
	second, ok := recv(t, granted, 5*time.Second)
	if !ok || second.Epoch != first.Epoch+1 {
		t.Fatalf("re-granted %+v (%v), want epoch %d", second, ok, first.Epoch+1)
	}
}
