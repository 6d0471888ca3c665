package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/store"
	"github.com/sextant-ml/sextant/tensor"
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
	dirA := t.TempDir()
	a := start(t, dsn, dirA, kd, nil)
	b := start(t, dsn, t.TempDir(), kd, func(c *Config) {
		var err error
		if c.Blobs, err = store.NewBlobs(filepath.Join(dirA, "blobs")); err != nil {
			t.Fatal(err)
		}
	})
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
	_, pub := a.token(t, delivery.ScopePublish)
	_, roll := a.token(t, delivery.ScopeRollout)
	_, enroll := a.token(t, delivery.ScopeEnroll)
	publish(t, a.client(pub), kd, tk, flBundle(t, "1.0.0"), "fl-e2e")
	if _, err := a.client(roll).SetCurrent(ctx, "fl-e2e", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	const devices = 4
	ft := fl.Task{
		Name: task, Model: "fl-e2e",
		Plan: client.Plan{Epochs: 1, BatchSize: 8, LR: 0.02, Params: []string{"w", "b"}, Loss: client.LossMSE, Output: "pred",
			ClipNorm: 5},
		Population: devices, Target: devices, OverSelection: 1, MinReports: devices,
		SelectionWindow: 1500 * time.Millisecond, RoundDeadline: 30 * time.Second,
		Optimizer: fl.ServerOptimizer{Kind: fl.FedAvg}, SecureAggregation: true,
	}
	lctx, stopLeader := context.WithCancel(ctx)
	led := make(chan error, 1)
	go func() {
		led <- a.srv.LeadFL(lctx, a.db, FLTask{Task: ft, Dir: t.TempDir(), StepTimeout: 10 * time.Second})
	}()
	defer func() { stopLeader(); <-led }()

	tr := httptransport.New(nil)
	var wg sync.WaitGroup
	dctx, stopDevices := context.WithCancel(ctx)
	defer func() { stopDevices(); wg.Wait() }()
	var probe Registration
	for i := range devices {
		reg, err := a.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", OS: "android 14"})
		if err != nil {
			t.Fatal(err)
		}
		probe = reg
		conn := &client.HTTPConn{Base: a.url, Device: reg.ID, Credential: reg.Credential, Get: tr,
			Post: uploadsTo{Poster: tr, from: a.url, to: b.url}}
		wg.Go(func() {
			for dctx.Err() == nil {
				m, _ := flModel()
				p := &client.Participant{Device: reg.ID, Task: task, Conn: conn, Model: m,
					Data: func() ([]*tensor.Tensor, error) { return flData(i), nil }, Poll: 10 * time.Millisecond}
				if out, err := p.Once(dctx); err != nil || !out.Joined {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	candidate := func(v string) (delivery.Version, bool) {
		got, err := a.db.GetVersion(ctx, "fl-e2e", v)
		if errors.Is(err, delivery.ErrNotFound) {
			return got, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return got, true
	}
	waitUntil(t, time.Minute, "two rounds", func() bool { _, ok := candidate("1.1.0-fl.2"); return ok })
	stopDevices()
	for _, v := range []string{"1.1.0-fl.1", "1.1.0-fl.2"} {
		c, _ := candidate(v)
		if n := len(c.Lineage.FederatedRounds); n == 0 || !strings.HasSuffix(c.Lineage.FederatedRounds[n-1], "participants-4") {
			t.Fatalf("%s: lineage %v, want every device's report", v, c.Lineage.FederatedRounds)
		}
	}
	const route = `"route":"POST /v1/devices/{id}/fl/{task}/messages","status":204`
	if nb, na := strings.Count(b.logs.String(), route), strings.Count(a.logs.String(), route); nb < 2*devices*2 || na != 0 {
		t.Fatalf("uploads taken: %d by b, %d by a", nb, na)
	}

	// b refuses what it can check: the seat's form, the task, the device.
	post := func(path, seat string) int {
		req, _ := http.NewRequest(http.MethodPost, b.url+"/v1/devices/"+probe.ID+path, bytes.NewReader([]byte("x")))
		req.Header.Set("Authorization", "Bearer "+probe.Credential)
		if seat != "" {
			req.Header.Set(seatHeader, seat)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("/fl/"+task+"/messages", ""); c != http.StatusBadRequest {
		t.Errorf("upload without a seat: %d", c)
	}
	if c := post("/fl/other/messages", "1/1/x"); c != http.StatusNotFound {
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
