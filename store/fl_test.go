package store

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
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

// testFLGoneSeats: the leader's poll returns exactly the attempt's seats
// that left, in id order, and nothing of other tasks or attempts.
func testFLGoneSeats(t *testing.T, e *env) {
	ctx := t.Context()
	now := e.clock.Now()
	for _, task := range []string{"courier", "eta"} {
		if err := e.db.PublishFLRound(ctx, FLRound{Task: task, Attempt: 1, Open: true, SelectionEnd: now.Add(time.Hour), View: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := e.db.CheckInFL(ctx, task, 1, fmt.Sprintf("d%d", i), "h", now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ids, err := e.db.FLGoneSeats(ctx, "courier", 1); err != nil || len(ids) != 0 {
		t.Fatalf("nobody left: %v %v", ids, err)
	}
	for _, id := range []uint32{4, 2, 4} {
		if err := e.db.LeaveFL(ctx, "courier", 1, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.LeaveFL(ctx, "eta", 1, 5); err != nil {
		t.Fatal(err)
	}
	if ids, err := e.db.FLGoneSeats(ctx, "courier", 1); err != nil || !slices.Equal(ids, []uint32{2, 4}) {
		t.Fatalf("courier: %v %v, want [2 4]", ids, err)
	}
	if ids, err := e.db.FLGoneSeats(ctx, "eta", 1); err != nil || !slices.Equal(ids, []uint32{5}) {
		t.Fatalf("eta: %v %v, want [5]", ids, err)
	}
	if ids, err := e.db.FLGoneSeats(ctx, "courier", 2); err != nil || len(ids) != 0 {
		t.Fatalf("an attempt with no seats: %v %v", ids, err)
	}
	// A new attempt drops the old one's seats.
	if err := e.db.PublishFLRound(ctx, FLRound{Task: "courier", Attempt: 2, Open: true, SelectionEnd: now.Add(time.Hour), View: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if ids, err := e.db.FLGoneSeats(ctx, "courier", 1); err != nil || len(ids) != 0 {
		t.Fatalf("the replaced attempt: %v %v", ids, err)
	}
}

// testFLMessagesBatched: a step's messages to more seats than one INSERT
// holds, and messages larger than a chunk's byte bound, are all stored,
// each for its seat, replacing what a seat had at that step and nothing
// at another; a deposed leader's batch stores nothing.
func testFLMessagesBatched(t *testing.T, e *env) {
	ctx := t.Context()
	grant(t, e, "leader", 1)
	l1 := lease.WithFence(ctx, lease.Fence{Name: "leader", Epoch: 1})
	if err := e.db.PublishFLRound(l1, FLRound{Task: "t", Attempt: 1, View: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.PutFLMessages(l1, "t", 1, 1, map[uint32][]byte{7: []byte("old"), 8: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.PutFLMessages(l1, "t", 1, 2, map[uint32][]byte{7: []byte("step 2")}); err != nil {
		t.Fatal(err)
	}
	n := 2*flMessageRows + 3
	msgs := map[uint32][]byte{}
	for i := 1; i <= n; i++ {
		msgs[uint32(i)] = fmt.Appendf(nil, "m%d", i)
	}
	if err := e.db.PutFLMessages(l1, "t", 1, 1, msgs); err != nil {
		t.Fatal(err)
	}
	var count int
	if err := e.db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM fl_messages WHERE task = 't' AND attempt = 1 AND step = 1`).Scan(&count); err != nil || count != n {
		t.Fatalf("%d messages at step 1 (%v), want %d", count, err, n)
	}
	for _, seat := range []uint32{1, 7, 8, flMessageRows, flMessageRows + 1, uint32(n)} {
		if b, ok, err := e.db.GetFLMessage(ctx, "t", 1, 1, seat); err != nil || !ok || string(b) != fmt.Sprintf("m%d", seat) {
			t.Fatalf("seat %d: %q %v %v", seat, b, ok, err)
		}
	}
	if b, _, _ := e.db.GetFLMessage(ctx, "t", 1, 2, 7); string(b) != "step 2" {
		t.Fatalf("step 2's message was changed: %q", b)
	}
	// Three bodies of over half the byte bound: one per INSERT.
	big := map[uint32][]byte{}
	for i := range 3 {
		big[uint32(i+1)] = bytes.Repeat([]byte{byte('a' + i)}, flMessageBytes/2+1)
	}
	if err := e.db.PutFLMessages(l1, "t", 1, 3, big); err != nil {
		t.Fatal(err)
	}
	for seat, want := range big {
		if b, ok, err := e.db.GetFLMessage(ctx, "t", 1, 3, seat); err != nil || !ok || !bytes.Equal(b, want) {
			t.Fatalf("big message to %d: %d bytes, %v %v", seat, len(b), ok, err)
		}
	}
	if err := e.db.PutFLMessages(l1, "t", 1, 4, nil); err != nil {
		t.Fatalf("no messages: %v", err)
	}
	grant(t, e, "leader", 2)
	if err := e.db.PutFLMessages(l1, "t", 1, 5, msgs); !errors.Is(err, lease.ErrStale) {
		t.Fatalf("deposed batch: %v, want ErrStale", err)
	}
	if _, ok, _ := e.db.GetFLMessage(ctx, "t", 1, 5, uint32(n)); ok {
		t.Fatal("a deposed leader's batch was stored")
	}
}

// errRowsAffected is what faultyResult's RowsAffected fails with.
var errRowsAffected = errors.New("rows affected unavailable")

// faultyConn is a database connection whose INSERTs into fl_tasks report
// that the rows they affected are unknown.
type faultyConn struct{ driver.Conn }

func (c faultyConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c faultyConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c faultyConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
	if err != nil || !strings.Contains(q, "INSERT INTO fl_tasks") {
		return res, err
	}
	return faultyResult{res}, nil
}

type faultyResult struct{ driver.Result }

func (faultyResult) RowsAffected() (int64, error) { return 0, errRowsAffected }

type faultyConnector struct {
	drv driver.Driver
	dsn string
}

func (c faultyConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return faultyConn{conn}, nil
}

func (c faultyConnector) Driver() driver.Driver { return c.drv }

// TestStoreSQLiteFLTaskRowsAffected: when the database cannot say whether
// SaveFLTask's write took, the error says so (and wraps the cause) rather
// than claiming a version conflict, which would tell the leader another
// writer had won.
func TestStoreSQLiteFLTaskRowsAffected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sextant.db")
	migrated, err := Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	drv := migrated.db.Driver()
	migrated.Close()
	sdb := sql.OpenDB(faultyConnector{drv: drv, dsn: "file:" + path + "?_txlock=immediate"})
	defer sdb.Close()
	db := &DB{db: sdb, d: sqliteDialect, clock: newTestClock()}
	err = db.SaveFLTask(t.Context(), "courier", 1, []byte(`{}`))
	if errors.Is(err, delivery.ErrConflict) {
		t.Fatalf("reported as a version conflict: %v", err)
	}
	if !errors.Is(err, errRowsAffected) {
		t.Fatalf("%v, want it to wrap %v", err, errRowsAffected)
	}
}
