package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/messaging"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/store"
)

// testNATS returns the external NATS server the replica tests share, and
// a fresh stream prefix whose streams are deleted when t ends. Without a
// reachable server it skips t, except under CI=true, where it fails.
func testNATS(t *testing.T, streams ...string) (url, prefix string) {
	t.Helper()
	url = os.Getenv("SEXTANT_TEST_NATS")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	var b [4]byte
	rand.Read(b[:])
	prefix = "sxtest" + hex.EncodeToString(b[:])
	bus, err := messaging.Open(t.Context(), messaging.Config{URL: url, Prefix: prefix})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS JetStream at %s is required in CI: %v", url, err)
		}
		t.Skipf("NATS JetStream unreachable at %s (set SEXTANT_TEST_NATS): %v", url, err)
	}
	t.Cleanup(func() {
		for _, s := range streams {
			bus.Delete(context.Background(), s)
		}
		bus.Close()
	})
	return url, prefix
}

// spread routes device d's call of kind k (status, check-in, configure,
// upload, step message, leave) to live replica (d+k) mod n, as a load
// balancer may: one device's consecutive calls go to different replicas.
type spread struct {
	tr    httptransport.Getter
	from  string
	urls  []string
	alive []atomic.Bool
	d     int
}

func (s *spread) route(req transport.Request, post bool) transport.Request {
	k := 0
	switch p := req.URL; {
	case strings.HasSuffix(p, "/checkin"):
		k = 1
	case strings.HasSuffix(p, "/configure"):
		k = 2
	case strings.HasSuffix(p, "/messages") && post:
		k = 3
	case strings.Contains(p, "/messages/"):
		k = 4
	case strings.HasSuffix(p, "/leave"):
		k = 5
	}
	for j := range len(s.urls) {
		if i := (s.d + k + j) % len(s.urls); s.alive[i].Load() {
			req.URL = s.urls[i] + strings.TrimPrefix(req.URL, s.from)
			break
		}
	}
	return req
}

func (s *spread) Get(ctx context.Context, req transport.Request) (*transport.Response, error) {
	return s.tr.Get(ctx, s.route(req, false))
}

func (s *spread) Post(ctx context.Context, req transport.Request, ctype string, body []byte) (*transport.Response, error) {
	return s.tr.Post(ctx, s.route(req, true), ctype, body)
}

// TestServeFLAnyReplica: two `sextant serve --fl-task` processes share
// PostgreSQL, a blob directory and an external NATS JetStream; the
// devices' calls are spread over both (one device's consecutive calls on
// different processes), and every replica answers them from the round the
// lease holder publishes in the database, uploads reaching it through
// JetStream. The leader is SIGKILLed with round 2 past its selection: the
// other process takes the lease over, fails the lost attempt on the
// record, and round 2 is retried and commits, then round 3; each round
// committed once, each candidate registered once.
func TestServeFLAnyReplica(t *testing.T) {
	if os.Getenv(serveChildEnv) != "" {
		t.Skip("child")
	}
	dsn := pgtest.Schema(t)
	natsURL, prefix := testNATS(t, "fl-uploads-courier", server.HealthStream)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServeFL(t, ctx, dsn, "--nats", natsURL, "--nats-prefix", prefix)
	a, b := s.a, s.b

	tr := httptransport.New(nil)
	alive := make([]atomic.Bool, 2)
	alive[0].Store(true)
	alive[1].Store(true)
	_, stopDevices := s.devices(t, ctx, 4, func(i int, reg server.Registration) *client.HTTPConn {
		lb := &spread{tr: tr, from: a.url, urls: []string{a.url, b.url}, alive: alive, d: i}
		return &client.HTTPConn{Base: a.url, Device: reg.ID, Credential: reg.Credential, Get: lb, Post: lb}
	})
	candidate := func(v string) bool { _, ok := s.candidate(t, ctx, v); return ok }
	waitFor(t, 90*time.Second, "round 1 on a", func() bool { return candidate("1.1.0-fl.1") })
	var lost uint64
	waitFor(t, 30*time.Second, "round 2 on a past its selection", func() bool {
		v, ok := publishedRound(t, s.db, "courier")
		lost = v.Attempt
		return ok && v.Round == 2 && v.Configured && !v.Over
	})
	alive[0].Store(false)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, 10*time.Second, "b to lead", func() bool { return s.leaderURL(t) == b.url })
	t.Logf("b leads %v after a was killed", time.Since(killed).Round(time.Millisecond))
	waitFor(t, 90*time.Second, "round 3 on b", func() bool { return candidate("1.1.0-fl.3") })
	stopDevices()

	for _, v := range []string{"1.1.0-fl.1", "1.1.0-fl.2", "1.1.0-fl.3"} {
		if !candidate(v) {
			t.Fatalf("candidate %s missing", v)
		}
	}
	_, raw, err := s.db.LoadFLTask(ctx, "courier")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		State struct {
			Rounds  int              `json:"rounds"`
			History []fl.RoundRecord `json:"history"`
		} `json:"state"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	committed, attempts := map[int]int{}, map[uint64]int{}
	for _, h := range doc.State.History {
		attempts[h.Attempt]++
		if h.Committed {
			committed[h.Round]++
		}
	}
	for at, n := range attempts {
		if n != 1 {
			t.Fatalf("attempt %d recorded %d times: %+v", at, n, doc.State.History)
		}
	}
	if doc.State.Rounds < 3 || committed[1] != 1 || committed[2] != 1 || committed[3] != 1 {
		t.Fatalf("rounds committed %v: %+v", committed, doc.State.History)
	}
	for _, h := range doc.State.History {
		if h.Attempt == lost && (h.Committed || h.Round != 2) {
			t.Fatalf("the attempt a lost (%d): %+v, want it failed on the record", lost, h)
		}
	}
	if attempts[lost] != 1 {
		t.Fatalf("the attempt a lost (%d) is not on the record: %+v", lost, doc.State.History)
	}
	t.Logf("history: %+v", doc.State.History)
}

// publishedRound is the task's round as the leader published it.
func publishedRound(t *testing.T, db *store.DB, task string) (fl.View, bool) {
	t.Helper()
	r, ok, err := db.GetFLRound(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	var v fl.View
	if ok {
		if err := json.Unmarshal(r.View, &v); err != nil {
			t.Fatal(err)
		}
	}
	return v, ok
}
