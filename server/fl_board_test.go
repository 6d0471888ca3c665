package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/store"
)

// balancer spreads the devices' requests over the live replicas as a
// load balancer may: device d's call of kind k (status, check-in,
// configure, upload, step message, leave) goes to replica (d+k) mod 2, so
// consecutive calls of one device's round go to different replicas and
// every kind of call reaches both.
type balancer struct {
	tr    httptransport.Getter
	from  string // the base URL the devices were given
	urls  []string
	alive []atomic.Bool
}

func newBalancer(tr httptransport.Getter, urls ...string) *balancer {
	b := &balancer{tr: tr, from: urls[0], urls: urls, alive: make([]atomic.Bool, len(urls))}
	for i := range b.alive {
		b.alive[i].Store(true)
	}
	return b
}

func (b *balancer) down(url string) {
	for i, u := range b.urls {
		if u == url {
			b.alive[i].Store(false)
		}
	}
}

// device is device d's view of the balancer.
func (b *balancer) device(d int) *lbDevice { return &lbDevice{b: b, d: d} }

type lbDevice struct {
	b *balancer
	d int
}

func (l *lbDevice) route(req transport.Request, post bool) transport.Request {
	k := 0
	switch path := req.URL; {
	case strings.HasSuffix(path, "/checkin"):
		k = 1
	case strings.HasSuffix(path, "/configure"):
		k = 2
	case strings.HasSuffix(path, "/messages") && post:
		k = 3
	case strings.Contains(path, "/messages/"):
		k = 4
	case strings.HasSuffix(path, "/leave"):
		k = 5
	}
	for j := range len(l.b.urls) {
		i := (l.d + k + j) % len(l.b.urls)
		if l.b.alive[i].Load() {
			req.URL = l.b.urls[i] + strings.TrimPrefix(req.URL, l.b.from)
			break
		}
	}
	return req
}

func (l *lbDevice) Get(ctx context.Context, req transport.Request) (*transport.Response, error) {
	return l.b.tr.Get(ctx, l.route(req, false))
}

func (l *lbDevice) Post(ctx context.Context, req transport.Request, ctype string, body []byte) (*transport.Response, error) {
	return l.b.tr.Post(ctx, l.route(req, true), ctype, body)
}

// TestFLBoardAnyReplica: two replicas share PostgreSQL and JetStream and
// answer the federated task's devices from the round board, the devices'
// calls spread over both by a round-robin balancer; the lease holder runs
// the rounds. Rounds commit with every call of a device's round going to
// either replica. The leader is killed with a round in flight; the other
// takes the lease over, the lost attempt is failed on the record (its
// devices told the round is over) and retried, and the task goes on:
// each round committed once, each candidate registered once, no attempt
// id used twice, the privacy spent carried over.
func TestFLBoardAnyReplica(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bus, err := messaging.Open(ctx, messaging.Config{Dir: t.TempDir()}) // one server both replicas reach
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	kd, tk := keyDir(t)
	a, b := flReplicas(t, dsn, kd)
	const name = "e2e"
	for _, r := range []*running{a, b} {
		if err := r.srv.UseFLUploads(ctx, FLUploads{Bus: bus, Tasks: []string{name}}); err != nil {
			t.Fatal(err)
		}
		r.srv.ShareFL(r.db, []string{name})
	}
	enroll := flBase(t, ctx, a, kd, tk)
	const devices = 5
	ra, leader := flFailover(t, dsn, a, b, flDPTask(name, devices))

	lb := newBalancer(httptransport.New(nil), a.url, b.url)
	_, stopDevices := flDevices(t, ctx, a, enroll, name, devices, func(i int, reg Registration) *client.HTTPConn {
		return &client.HTTPConn{Base: a.url, Device: reg.ID, Credential: reg.Credential, Get: lb.device(i), Post: lb.device(i)}
	})
	waitUntil(t, time.Minute, "round 1 on a", func() bool { _, ok := candidate(t, ctx, b.db, "1.1.0-fl.1"); return ok })
	// Both replicas answered every kind of call of the round.
	for _, route := range []string{`"route":"POST /v1/devices/{id}/fl/{task}/checkin","status":200`,
		`"route":"POST /v1/devices/{id}/fl/{task}/configure","status":200`,
		`"route":"GET /v1/devices/{id}/fl/{task}/messages/{step}","status":200`,
		`"route":"POST /v1/devices/{id}/fl/{task}/messages","status":204`} {
		if na, nb := strings.Count(a.logs.String(), route), strings.Count(b.logs.String(), route); na == 0 || nb == 0 {
			t.Fatalf("%s: %d calls answered by a, %d by b; want both", route, na, nb)
		}
	}

	// Kill a with round 2 in flight (past its selection).
	var lostAttempt uint64
	waitUntil(t, 20*time.Second, "round 2 on a past its selection", func() bool {
		r, ok, err := a.db.GetFLRound(ctx, name)
		var v fl.View
		if err != nil || !ok || json.Unmarshal(r.View, &v) != nil {
			return false
		}
		lostAttempt = v.Attempt
		return v.Round == 2 && v.Configured && !v.Over
	})
	lb.down(a.url)
	flTakeOver(t, ctx, ra, b, leader)
	stopDevices()

	flThreeRounds(t, ctx, b.db)
	st, _ := loadFLState(t, ctx, b.db, name)
	seen := committedOnce(t, st)
	var lost *fl.RoundRecord
	for i, h := range st.History {
		if h.Attempt == lostAttempt {
			lost = &st.History[i]
		}
		if h.Committed && (h.Reports < devices-1 || h.Reports > devices) {
			t.Fatalf("round %d: %d reports of %d devices", h.Round, h.Reports, devices)
		}
	}
	if lost == nil || lost.Committed || lost.Round != 2 || !strings.Contains(lost.Failure, "restarted") {
		t.Fatalf("the attempt a lost: %+v, want it failed on the record", lost)
	}
	if st.Rounds < 3 || !seen[1] || !seen[2] || !seen[3] {
		t.Fatalf("state: %d rounds, history %+v", st.Rounds, st.History)
	}
	t.Logf("history: %+v", st.History)
}

// TestFLBoardDeviceCalls: a replica that does not run the task answers
// its devices from the board alone, on either store: status before any
// round and during one, check-in (a stale attempt refused, a device
// seated once), configuration and the step messages with the seat (a
// wrong token or another device's seat refused), leaving, and a seat of
// an attempt the leader replaced (410). The leader's part is played on
// the store directly.
func TestFLBoardDeviceCalls(t *testing.T) {
	eachStore(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		kd, _ := keyDir(t)
		r := start(t, dsn, t.TempDir(), kd, nil)
		r.srv.ShareFL(r.db, []string{"t"})
		_, enroll := r.token(t, delivery.ScopeEnroll)
		d1, err := r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022"})
		if err != nil {
			t.Fatal(err)
		}
		d2, err := r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022"})
		if err != nil {
			t.Fatal(err)
		}
		call := func(d Registration, method, path, seat string, body string) (int, []byte) {
			t.Helper()
			return deviceCall(t, ctx, r.url, d, method, "/fl/"+path, seat, body)
		}
		status := func() client.Status {
			t.Helper()
			time.Sleep(boardView + 20*time.Millisecond) // the replica's read of the round ages out
			c, b := call(d1, "GET", "t", "", "")
			var st client.Status
			if c != http.StatusOK || json.Unmarshal(b, &st) != nil {
				t.Fatalf("status: %d %s", c, b)
			}
			return st
		}
		if st := status(); st.Open || st.Attempt != 0 || st.RetryAt.Before(time.Now().Add(flNoRound/2)) {
			t.Fatalf("status before any round: %+v", st)
		}
		if c, _ := call(d1, "GET", "nope", "", ""); c != http.StatusNotFound {
			t.Fatalf("an unknown task: %d", c)
		}
		publish := func(v fl.View) {
			t.Helper()
			b, _ := json.Marshal(v)
			if err := r.db.PublishFLRound(ctx, store.FLRound{Task: "t", Attempt: v.Attempt, Open: v.Open, SelectionEnd: v.SelectionEnd, View: b}); err != nil {
				t.Fatal(err)
			}
		}
		v := fl.View{Task: "t", Round: 1, Attempt: 7, Q: 0.5, Open: true, SelectionEnd: time.Now().Add(time.Minute), SelectionWindow: time.Minute}
		publish(v)
		if st := status(); !st.Open || st.Attempt != 7 || st.Q != 0.5 || st.Round != 1 {
			t.Fatalf("status in selection: %+v", st)
		}
		if c, _ := call(d1, "POST", "t/checkin", "", `{"attempt":6}`); c != http.StatusConflict {
			t.Fatalf("check-in to a stale attempt: %d", c)
		}
		c, b := call(d1, "POST", "t/checkin", "", `{"attempt":7}`)
		var seat client.Seat
		if c != http.StatusOK || json.Unmarshal(b, &seat) != nil || seat.ID != 1 || seat.Attempt != 7 || seat.Token == "" {
			t.Fatalf("check-in: %d %s", c, b)
		}
		if c, _ := call(d1, "POST", "t/checkin", "", `{"attempt":7}`); c != http.StatusForbidden {
			t.Fatalf("a second check-in: %d", c)
		}
		header := func(s client.Seat) string { return fmt.Sprintf("%d/%d/%s", s.Attempt, s.ID, s.Token) }

		// The leader closes selection and publishes the assignment.
		seats, err := r.db.CloseFLSelection(ctx, "t", 7)
		if err != nil || len(seats) != 1 || seats[0].Device != d1.ID || seats[0].TokenHash != fl.SeatTokenHash(seat.Token) {
			t.Fatalf("close: %+v %v", seats, err)
		}
		if c, _ := call(d2, "POST", "t/checkin", "", `{"attempt":7}`); c != http.StatusConflict {
			t.Fatalf("check-in after the close: %d", c)
		}
		asg, _ := json.Marshal(client.Assignment{Round: 1, Attempt: 7, Global: []float32{1, 2}})
		if err := r.db.PutFLMessages(ctx, "t", 7, fl.AssignmentStep, map[uint32][]byte{0: asg}); err != nil {
			t.Fatal(err)
		}
		v.Open, v.Configured = false, true
		publish(v)
		time.Sleep(boardView + 20*time.Millisecond)
		c, b = call(d1, "POST", "t/configure", header(seat), "")
		var a client.Assignment
		if c != http.StatusOK || json.Unmarshal(b, &a) != nil || a.ID != 1 || a.Attempt != 7 || len(a.Global) != 2 {
			t.Fatalf("configure: %d %s", c, b)
		}
		bad := seat
		bad.Token = strings.Repeat("0", len(seat.Token))
		if c, _ := call(d1, "POST", "t/configure", header(bad), ""); c != http.StatusForbidden {
			t.Fatalf("configure with a wrong token: %d", c)
		}
		if c, _ := call(d2, "POST", "t/configure", header(seat), ""); c != http.StatusForbidden {
			t.Fatalf("configure with another device's seat: %d", c)
		}
		// Step 1's messages, then its view.
		if err := r.db.PutFLMessages(ctx, "t", 7, int(secagg.StepShareKeys), map[uint32][]byte{1: {9, 8, 7}}); err != nil {
			t.Fatal(err)
		}
		v.Step = secagg.StepShareKeys
		publish(v)
		time.Sleep(boardView + 20*time.Millisecond)
		if c, b := call(d1, "GET", "t/messages/1", header(seat), ""); c != http.StatusOK || string(b) != "\x09\x08\x07" {
			t.Fatalf("step 1's message: %d %q", c, b)
		}
		if c, _ := call(d1, "POST", "t/leave", header(seat), ""); c != http.StatusNoContent {
			t.Fatalf("leave: %d", c)
		}
		if s, _, _ := r.db.GetFLSeat(ctx, "t", 7, 1); !s.Gone {
			t.Fatal("the seat did not leave")
		}
		// A takeover: the new leader's next attempt ends the old seats.
		publish(fl.View{Task: "t", Round: 1, Attempt: 8, Open: true, SelectionEnd: time.Now().Add(time.Minute), SelectionWindow: time.Minute})
		time.Sleep(boardView + 20*time.Millisecond)
		if c, _ := call(d1, "POST", "t/configure", header(seat), ""); c != http.StatusGone {
			t.Fatalf("configure with a replaced attempt's seat: %d", c)
		}
		if c, _ := call(d1, "GET", "t/messages/1", header(seat), ""); c != http.StatusGone {
			t.Fatalf("a replaced attempt's message: %d", c)
		}
	})
}

// TestFLBoardOneProcess: `sextant serve` on SQLite — one process, always
// the leader, no JetStream for uploads — runs its task's rounds through
// the board like replicas do, and they commit with every device's report.
func TestFLBoardOneProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	kd, tk := keyDir(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"), t.TempDir(), kd, nil)
	const name = "e2e"
	r.srv.ShareFL(r.db, []string{name})
	enroll := flBase(t, ctx, r, kd, tk)
	const devices = 4
	task := flTask(name, devices)
	task.SelectionWindow = time.Second
	flLead(t, ctx, r, FLTask{Task: task, Dir: t.TempDir(), StepTimeout: 10 * time.Second})
	tr := httptransport.New(nil)
	flDevices(t, ctx, r, enroll, name, devices, func(_ int, reg Registration) *client.HTTPConn {
		return &client.HTTPConn{Base: r.url, Device: reg.ID, Credential: reg.Credential, Get: tr, Post: tr}
	})
	waitUntil(t, time.Minute, "round 1", func() bool { _, ok := candidate(t, ctx, r.db, "1.1.0-fl.1"); return ok })
	c, _ := candidate(t, ctx, r.db, "1.1.0-fl.1")
	if n := len(c.Lineage.FederatedRounds); n != 1 || !strings.HasSuffix(c.Lineage.FederatedRounds[0], "participants-4") {
		t.Fatalf("lineage %v, want round 1 with every device's report", c.Lineage.FederatedRounds)
	}
	if _, ok, err := r.db.GetFLRound(ctx, name); !ok || err != nil {
		t.Fatalf("no round on the board: %v", err)
	}
}
