package server

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/internal/pgtest"
)

// uploadsTo sends the devices' uploads (POST …/messages) to another
// replica, as a load balancer may: every other call goes where it was
// addressed.
type uploadsTo struct {
	transport.Poster
	from, to string
}

func (u uploadsTo) Post(ctx context.Context, req transport.Request, ctype string, body []byte) (*transport.Response, error) {
	if strings.HasSuffix(req.URL, "/messages") {
		req.URL = u.to + strings.TrimPrefix(req.URL, u.from)
	}
	return u.Poster.Post(ctx, req, ctype, body)
}

// TestFLUploadsThroughJetStream: the devices' secure-aggregation uploads
// reach a replica that does not run the task; it publishes them (in
// chunks) to JetStream, and the leader's coordinator consumes them: the
// rounds commit with every device's report.
func TestFLUploadsThroughJetStream(t *testing.T) {
	for _, embedded := range []bool{true, false} {
		name := map[bool]string{true: "embedded", false: "external"}[embedded]
		t.Run(name, func(t *testing.T) { testFLUploads(t, embedded) })
	}
}

func testFLUploads(t *testing.T, embedded bool) {
	dsn := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	busA, busB := healthBuses(t, embedded)
	kd, tk := keyDir(t)
	a, b := flReplicas(t, dsn, kd)
	const task = "e2e"
	if !embedded {
		t.Cleanup(func() { busB.Delete(context.Background(), flUploadStream(task)) })
	}
	// Tiny chunks: every upload is split.
	if err := a.srv.UseFLUploads(ctx, FLUploads{Bus: busA, Tasks: []string{task}, Chunk: 64}); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.UseFLUploads(ctx, FLUploads{Bus: busB, Tasks: []string{task}, Chunk: 64}); err != nil {
		t.Fatal(err)
	}
	enroll := flBase(t, ctx, a, kd, tk)
	const devices = 4
	flLead(t, ctx, a, FLTask{Task: flTask(task, devices), Dir: t.TempDir(), StepTimeout: 10 * time.Second})

	tr := httptransport.New(nil)
	regs, stopDevices := flDevices(t, ctx, a, enroll, task, devices, func(_ int, reg Registration) *client.HTTPConn {
		return &client.HTTPConn{Base: a.url, Device: reg.ID, Credential: reg.Credential, Get: tr,
			Post: uploadsTo{Poster: tr, from: a.url, to: b.url}}
	})
	waitUntil(t, time.Minute, "two rounds", func() bool { _, ok := candidate(t, ctx, a.db, "1.1.0-fl.2"); return ok })
	stopDevices()
	for _, v := range []string{"1.1.0-fl.1", "1.1.0-fl.2"} {
		c, _ := candidate(t, ctx, a.db, v)
		if n := len(c.Lineage.FederatedRounds); n == 0 || !strings.HasSuffix(c.Lineage.FederatedRounds[n-1], "participants-4") {
			t.Fatalf("%s: lineage %v, want every device's report", v, c.Lineage.FederatedRounds)
		}
	}
	const route = `"route":"POST /v1/devices/{id}/fl/{task}/messages","status":204`
	if nb, na := strings.Count(b.logs.String(), route), strings.Count(a.logs.String(), route); nb < 2*devices*2 || na != 0 {
		t.Fatalf("uploads taken: %d by b, %d by a", nb, na)
	}

	// b refuses what it can check: the seat's form, the task, the device.
	probe := regs[len(regs)-1]
	if c, _ := deviceCall(t, ctx, b.url, probe, http.MethodPost, "/fl/"+task+"/messages", "", "x"); c != http.StatusBadRequest {
		t.Errorf("upload without a seat: %d", c)
	}
	if c, _ := deviceCall(t, ctx, b.url, probe, http.MethodPost, "/fl/other/messages", "1/1/x", "x"); c != http.StatusNotFound {
		t.Errorf("upload to an unknown task: %d", c)
	}
}

// FuzzUploadPart: upload parts come from the stream; a malformed one is
// refused, never a panic, and a part that parses survives re-encoding.
func FuzzUploadPart(f *testing.F) {
	f.Add(appendUploadPart(nil, [16]byte{1}, 0, 1, "1/2/tok", []byte("body")))
	f.Add(appendUploadPart(nil, [16]byte{2}, 3, 4, "", nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseUploadPart(b, 1000)
		if err != nil {
			return
		}
		if p.i >= p.n || p.n > 1000 || len(p.seat) > 256 {
			t.Fatalf("out of bounds part %+v", p)
		}
		q, err := parseUploadPart(appendUploadPart(nil, p.id, p.i, p.n, p.seat, p.data), 1000)
		if err != nil || q.id != p.id || q.i != p.i || q.n != p.n || q.seat != p.seat || !bytes.Equal(q.data, p.data) {
			t.Fatalf("part %+v re-encoded reads back as %+v, %v", p, q, err)
		}
	})
}
