package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/privacy/ledger"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/tensor"
)

// TestFLRoundsOverHTTP: enrolled devices running fl/client over the device
// transport (httptransport, the SDK's own network contract) complete rounds
// of secure aggregation with central DP against the server, one of them
// dropping out; each committed round registers a candidate version with its
// lineage.
func TestFLRoundsOverHTTP(t *testing.T) {
	dir := t.TempDir()
	kd, _ := keyDir(t)
	r := start(t, "sqlite:"+filepath.Join(dir, "sextant.db"), dir, kd, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const devices = 6
	task := flDPTask("e2e", devices)
	task.MinReports, task.SelectionWindow, task.RoundDeadline = 4, time.Minute, time.Minute
	led, err := ledger.Open(filepath.Join(dir, "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := flModel()
	coord, err := fl.Open(fl.Config{Task: task, Model: g, StatePath: filepath.Join(dir, "fl.json"), Ledger: led})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := r.srv.FLCandidateHook(coord, FLCandidates{Model: flModel, Base: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := fl.NewService(fl.ServiceConfig{Coordinator: coord, StepTimeout: 20 * time.Second, OnCommit: hook})
	if err != nil {
		t.Fatal(err)
	}
	r.srv.ServeFL(svc)

	_, enroll := r.token(t, delivery.ScopeEnroll)
	tr := httptransport.New(nil)
	var parts []*client.Participant
	var conns []*client.HTTPConn
	for i := range devices {
		reg, err := r.client(enroll).Register(ctx, DeviceInfo{Class: "mid-2022", OS: "android 14"})
		if err != nil {
			t.Fatal(err)
		}
		conn := &client.HTTPConn{Base: r.url, Device: reg.ID, Credential: reg.Credential, Get: tr, Post: tr}
		conns = append(conns, conn)
		m, _ := flModel()
		parts = append(parts, &client.Participant{Device: reg.ID, Task: task.Name, Conn: conn, Model: m,
			Data: func() ([]*tensor.Tensor, error) { return flData(i), nil }, Poll: 10 * time.Millisecond,
			DropAt: func(round int) secagg.Step {
				if round == 2 && i == 0 {
					return secagg.StepMaskedInput // shares its keys, then leaves: its masks must be removed
				}
				return secagg.StepDone
			}})
	}

	// Another device's credential cannot be used for this one.
	bad := *conns[0]
	bad.Credential = conns[1].Credential
	if _, err := bad.Status(ctx, task.Name, ""); err == nil {
		t.Error("a device read the task's status with another device's credential")
	}

	for round := 1; round <= 2; round++ {
		ch := svc.Changed()
		type res struct {
			rec *fl.RoundRecord
			err error
		}
		done := make(chan res, 1)
		go func() {
			rec, _, err := svc.RunRound(ctx)
			done <- res{rec, err}
		}()
		<-ch
		var wg sync.WaitGroup
		outs := make([]*client.Outcome, devices)
		errs := make([]error, devices)
		for i, p := range parts {
			wg.Add(1)
			go func() { defer wg.Done(); outs[i], errs[i] = p.Once(ctx) }()
		}
		// q = 1: every device checks in; then selection closes.
		for svc.Seated() < devices && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		svc.EndSelection()
		wg.Wait()
		out := <-done
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d device %d: %v", round, i, err)
			}
		}
		if out.err != nil {
			t.Fatalf("round %d: %v", round, out.err)
		}
		rec := out.rec
		wantReports := devices
		if round == 2 {
			wantReports = devices - 1
		}
		if rec.Reports != wantReports || rec.Selected != devices {
			t.Errorf("round %d: %d selected, %d reports; want %d, %d", round, rec.Selected, rec.Reports, devices, wantReports)
		}
		for i, o := range outs {
			if o.Completed != !(round == 2 && i == 0) || o.Sent == 0 || o.Received == 0 {
				t.Errorf("round %d device %d: %+v", round, i, o)
			}
		}
		t.Logf("round %d: %d reports, ε = %.3f, %d B sent / %d B received by a device", rec.Round, rec.Reports, rec.Epsilon, outs[1].Sent, outs[1].Received)
	}

	// The candidates and their lineage.
	vs, err := r.db.ListVersions(ctx, task.Model)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d candidate versions registered, want 2", len(vs))
	}
	byVersion := map[string]delivery.Version{}
	for _, v := range vs {
		byVersion[v.Version] = v
	}
	v2, ok := byVersion["1.0.0-fl.2"]
	if !ok {
		t.Fatalf("versions %v", vs)
	}
	want := []string{"e2e/round-1/attempt-1/participants-6", "e2e/round-2/attempt-2/participants-5"}
	if v2.Parent != "1.0.0-fl.1" || v2.Lineage.TrainingRun != "fl:e2e" || fmt.Sprint(v2.Lineage.FederatedRounds) != fmt.Sprint(want) {
		t.Errorf("candidate 2: parent %q, lineage %+v", v2.Parent, v2.Lineage)
	}
	p, _ := coord.Privacy()
	if v2.Lineage.Privacy == nil || v2.Lineage.Privacy.Epsilon != p.Epsilon || !(p.Epsilon > byVersion["1.0.0-fl.1"].Lineage.Privacy.Epsilon) {
		t.Errorf("candidate privacy %+v, task's %+v", v2.Lineage.Privacy, p)
	}
	// A finished round answers 410 to a stale seat.
	if _, err := conns[1].Next(ctx, task.Name, &client.Seat{Attempt: 1, ID: 2, Token: "x"}, secagg.StepShareKeys); !errors.Is(err, client.ErrRoundOver) {
		t.Errorf("stale seat: %v", err)
	}
}
