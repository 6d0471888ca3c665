package store

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/lease"
)

// grant records epoch as lease name's current one (what lease.Campaign's
// takeover does).
func grant(t *testing.T, e *env, name string, epoch int64) {
	t.Helper()
	if _, err := e.db.db.ExecContext(t.Context(), `INSERT INTO leases (name, epoch, holder, acquired_us) VALUES ($1, $2, 'r', 0)
		ON CONFLICT (name) DO UPDATE SET epoch = excluded.epoch`, name, epoch); err != nil {
		t.Fatal(err)
	}
}

// testFLTasks: a task's state commits under a version that only moves
// forward and the lease's current epoch; a deposed leader's write (stale
// fence, or an epoch behind the last write's) is refused; it survives a
// reopen; states from before the table are moved into it.
func testFLTasks(t *testing.T, e *env) {
	ctx := t.Context()
	if v, doc, err := e.db.LoadFLTask(ctx, "courier"); err != nil || v != 0 || doc != nil {
		t.Fatalf("never committed: %d %q %v", v, doc, err)
	}
	grant(t, e, "leader", 1)
	l1 := lease.WithFence(ctx, lease.Fence{Name: "leader", Epoch: 1})
	if err := e.db.SaveFLTask(l1, "courier", 1, []byte(`{"r":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SaveFLTask(l1, "courier", 1, []byte(`{"r":9}`)); !errors.Is(err, delivery.ErrConflict) {
		t.Fatalf("same version again: %v, want ErrConflict", err)
	}
	grant(t, e, "leader", 2)
	if err := e.db.SaveFLTask(l1, "courier", 2, []byte(`{"r":2}`)); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed leader: %v, want ErrStale", err)
	}
	l2 := lease.WithFence(ctx, lease.Fence{Name: "leader", Epoch: 2})
	if err := e.db.SaveFLTask(l2, "courier", 2, []byte(`{"r":2}`)); err != nil {
		t.Fatal(err)
	}
	// An unfenced write after a fenced one (epoch 0 < 2) is refused too.
	if err := e.db.SaveFLTask(ctx, "courier", 3, []byte(`{"r":3}`)); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("unfenced write after epoch 2: %v, want ErrStale", err)
	}
	// Tasks are independent; an unfenced store (SQLite, one replica) works.
	if err := e.db.SaveFLTask(ctx, "eta", 1, []byte(`{"e":1}`)); err != nil {
		t.Fatal(err)
	}
	e.restart(t)
	if v, doc, err := e.db.LoadFLTask(ctx, "courier"); err != nil || v != 2 || string(doc) != `{"r":2}` {
		t.Fatalf("after reopen: %d %q %v", v, doc, err)
	}

	// Migration 5 moves states kept among the telemetry aggregates: roll
	// it back, store a state the old way, and open the store again.
	for _, q := range []string{`DROP TABLE fl_tasks`, `DROP TABLE fl_rounds`, `DROP TABLE fl_seats`,
		`DROP TABLE fl_messages`, `DELETE FROM schema_migrations WHERE version = 5`} {
		if _, err := e.db.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"fl-task/old", "road"} {
		if err := e.db.SaveTelemetryAggregate(ctx, k, 4, []byte(`{"k":"`+k+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	e.restart(t)
	if v, doc, err := e.db.LoadFLTask(ctx, "old"); err != nil || v != 4 || string(doc) != `{"k":"fl-task/old"}` {
		t.Fatalf("moved state: %d %q %v", v, doc, err)
	}
	if v, _, _ := e.db.LoadTelemetryAggregate(ctx, "fl-task/old"); v != 0 {
		t.Fatal("the moved state is still among the telemetry aggregates")
	}
	if v, _, _ := e.db.LoadTelemetryAggregate(ctx, "road"); v != 4 {
		t.Fatal("a telemetry aggregate was moved")
	}
}

// testFLBoard: the leader publishes a round; devices check in through any
// replica while selection is open, seated in order, once each; closing
// selection refuses later check-ins and returns the seats; messages are
// per step and seat; a new attempt clears the old one's seats; a deposed
// leader cannot publish.
func testFLBoard(t *testing.T, e *env) {
	ctx := t.Context()
	if _, ok, err := e.db.GetFLRound(ctx, "courier"); ok || err != nil {
		t.Fatalf("nothing published: %v %v", ok, err)
	}
	grant(t, e, "leader", 1)
	l1 := lease.WithFence(ctx, lease.Fence{Name: "leader", Epoch: 1})
	now := e.clock.Now()
	end := now.Add(time.Minute)
	if err := e.db.PublishFLRound(l1, FLRound{Task: "courier", Attempt: 3, Open: true, SelectionEnd: end, View: []byte(`{"a":3}`)}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := e.db.GetFLRound(ctx, "courier")
	if err != nil || !ok || r.Attempt != 3 || !r.Open || !r.SelectionEnd.Equal(end) || string(r.View) != `{"a":3}` || r.Seats != 0 {
		t.Fatalf("published round: %+v %v %v", r, ok, err)
	}
	v0 := r.Version
	if _, err := e.db.CheckInFL(ctx, "courier", 2, "d1", "h1", now); !errors.Is(err, ErrNotSelecting) {
		t.Fatalf("check-in to another attempt: %v", err)
	}
	if _, err := e.db.CheckInFL(ctx, "courier", 3, "d1", "h1", end); !errors.Is(err, ErrNotSelecting) {
		t.Fatalf("check-in at the window's end: %v", err)
	}
	for i, d := range []string{"d1", "d2", "d3"} {
		id, err := e.db.CheckInFL(ctx, "courier", 3, d, "h"+d, now)
		if err != nil || id != uint32(i+1) {
			t.Fatalf("check-in %s: id %d, %v", d, id, err)
		}
	}
	if _, err := e.db.CheckInFL(ctx, "courier", 3, "d2", "x", now); !errors.Is(err, ErrSeated) {
		t.Fatalf("second check-in: %v", err)
	}
	if r, _, _ := e.db.GetFLRound(ctx, "courier"); r.Seats != 3 || r.Version <= v0 {
		t.Fatalf("after check-ins: %+v", r)
	}
	if err := e.db.LeaveFL(ctx, "courier", 3, 2); err != nil {
		t.Fatal(err)
	}
	if s, ok, err := e.db.GetFLSeat(ctx, "courier", 3, 2); err != nil || !ok || s.Device != "d2" || s.TokenHash != "hd2" || !s.Gone {
		t.Fatalf("seat 2: %+v %v %v", s, ok, err)
	}
	if _, ok, _ := e.db.GetFLSeat(ctx, "courier", 3, 9); ok {
		t.Fatal("seat 9 exists")
	}
	seats, err := e.db.CloseFLSelection(l1, "courier", 3)
	if err != nil || len(seats) != 3 || seats[0].Device != "d1" || seats[2].ID != 3 || !seats[1].Gone || seats[0].Gone {
		t.Fatalf("close: %+v %v", seats, err)
	}
	if _, err := e.db.CheckInFL(ctx, "courier", 3, "d4", "h", now); !errors.Is(err, ErrNotSelecting) {
		t.Fatalf("check-in after close: %v", err)
	}
	if _, err := e.db.CloseFLSelection(l1, "courier", 4); !errors.Is(err, ErrNotSelecting) {
		t.Fatalf("closing an attempt not published: %v", err)
	}
	if err := e.db.PutFLMessages(l1, "courier", 3, 1, map[uint32][]byte{1: []byte("m1"), 3: {0, 255}}); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := e.db.GetFLMessage(ctx, "courier", 3, 1, 3); err != nil || !ok || string(b) != "\x00\xff" {
		t.Fatalf("message to 3: %q %v %v", b, ok, err)
	}
	if _, ok, _ := e.db.GetFLMessage(ctx, "courier", 3, 1, 2); ok {
		t.Fatal("seat 2 has a message it was not sent")
	}
	// A takeover: the old leader's writes are refused; the new leader's
	// next attempt starts with no seats and no messages.
	grant(t, e, "leader", 2)
	if err := e.db.PublishFLRound(l1, FLRound{Task: "courier", Attempt: 3, View: []byte(`{}`)}); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed publish: %v", err)
	}
	if err := e.db.PutFLMessages(l1, "courier", 3, 2, map[uint32][]byte{1: []byte("x")}); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed messages: %v", err)
	}
	if _, err := e.db.CloseFLSelection(l1, "courier", 3); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed close: %v", err)
	}
	l2 := lease.WithFence(ctx, lease.Fence{Name: "leader", Epoch: 2})
	if err := e.db.PublishFLRound(l2, FLRound{Task: "courier", Attempt: 4, Open: true, SelectionEnd: end, View: []byte(`{"a":4}`)}); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := e.db.GetFLRound(ctx, "courier"); r.Attempt != 4 || r.Seats != 0 || !r.Open {
		t.Fatalf("new attempt: %+v", r)
	}
	if s, _ := e.db.FLSeats(ctx, "courier", 3); len(s) != 0 {
		t.Fatalf("the old attempt's seats are left: %+v", s)
	}
	if _, ok, _ := e.db.GetFLMessage(ctx, "courier", 3, 1, 1); ok {
		t.Fatal("the old attempt's messages are left")
	}
	if id, err := e.db.CheckInFL(ctx, "courier", 4, "d2", "h", now); err != nil || id != 1 {
		t.Fatalf("check-in to the new attempt: %d %v", id, err)
	}
}

// testFLConcurrentCheckIns: devices checking in through many connections
// at once, racing the leader's close, get distinct ids 1..n with no gap,
// and the close returns exactly the seats handed out before it.
func testFLConcurrentCheckIns(t *testing.T, e *env) {
	ctx := t.Context()
	now := e.clock.Now()
	if err := e.db.PublishFLRound(ctx, FLRound{Task: "t", Attempt: 1, Open: true, SelectionEnd: now.Add(time.Hour), View: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var mu sync.Mutex
	var ids []int
	var wg sync.WaitGroup
	closed := make(chan []FLSeat, 1)
	for i := range n {
		wg.Go(func() {
			if i == n/2 {
				s, err := e.db.CloseFLSelection(ctx, "t", 1)
				if err != nil {
					t.Error(err)
				}
				closed <- s
			}
			id, err := e.db.CheckInFL(ctx, "t", 1, fmt.Sprintf("d%d", i), "h", now)
			if errors.Is(err, ErrNotSelecting) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids = append(ids, int(id))
			mu.Unlock()
		})
	}
	wg.Wait()
	seats := <-closed
	sort.Ints(ids)
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("ids %v: want 1..%d", ids, len(ids))
		}
	}
	if len(seats) != len(ids) {
		t.Fatalf("%d seats handed out, close returned %d", len(ids), len(seats))
	}
}
