package main

// The rig of the tests that run `sextant serve --fl-task` replicas: two
// processes on one PostgreSQL schema and blob directory, the task's base
// model published, and simulated devices taking part round after round.

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/store"
	"github.com/sextant-ml/sextant/tensor"
)

// cliToken creates a token of scope in the store at dsn with `sextant
// token create` and returns its secret.
func cliToken(t *testing.T, dsn, scope string) string {
	t.Helper()
	out, err := sextant(t, "token", "create", "--scope", scope, "--name", "t", "--db", dsn)
	m := secretLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	return m[1]
}

// serveFL is two `sextant serve --fl-task` processes (courier, population
// 4) sharing a PostgreSQL schema and a blob directory, a the first to
// lead, with courier@1.0.0 published and current.
type serveFL struct {
	dsn    string
	model  string // the published bundle: the devices' copy of the model
	enroll string // an enrolment token's secret
	a, b   *serveProc
	db     *store.DB // the replicas' store, for the test's reads
	admin  *sql.DB
}

// startServeFL starts the replicas on dsn, the extra arguments added to
// both processes' `serve`, and waits for a to lead.
func startServeFL(t *testing.T, ctx context.Context, dsn string, extra ...string) *serveFL {
	t.Helper()
	dir := t.TempDir()
	keys, blobs := filepath.Join(dir, "keys"), filepath.Join(dir, "blobs")
	t.Setenv(passphraseEnv, "correct horse battery")
	if _, err := sextant(t, "keys", "init", "--dir", keys, "--scrypt-work-factor", "10"); err != nil {
		t.Fatal(err)
	}
	pub, roll := cliToken(t, dsn, "publish"), cliToken(t, dsn, "rollout")
	s := &serveFL{dsn: dsn, model: filepath.Join(dir, "courier.sxm"), enroll: cliToken(t, dsn, "enroll")}
	taskFile := filepath.Join(dir, "courier.yaml")
	if err := os.WriteFile(taskFile, []byte(flTaskYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	serveArgs := func(name string) []string {
		return append([]string{"serve", "--keys", keys, "--data", filepath.Join(dir, name), "--db", dsn, "--blobs", blobs,
			"--listen", "127.0.0.1:0", "--fl-task", taskFile, "--fl-population", "4", "--log-format", "text"}, extra...)
	}
	s.a = startServe(t, serveArgs("a")...)
	writeClassifier(t, s.model, "courier")
	if o, err := sextant(t, "publish", s.model, "--server", s.a.url, "--token", pub, "--keys", keys); err != nil {
		t.Fatalf("publish: %v\n%s", err, o)
	}
	if _, err := sextant(t, "models", "set-current", "courier", "1.0.0", "--server", s.a.url, "--token", roll); err != nil {
		t.Fatal(err)
	}
	s.b = startServe(t, serveArgs("b")...)

	db, err := store.Open(ctx, dsn, store.WithClock(clock.Real))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.db, s.admin = db, pgtest.DB(t, dsn)
	waitFor(t, 10*time.Second, "a to lead", func() bool { return s.leaderURL(t) == s.a.url })
	return s
}

// leaderURL is the URL of the process that holds the lease ("" if none).
func (s *serveFL) leaderURL(t *testing.T) string {
	h := leaseHolder(t, s.admin)
	pid, _ := strconv.Atoi(h[strings.LastIndexByte(h, '/')+1:])
	for _, p := range []*serveProc{s.a, s.b} {
		if p.cmd.Process.Pid == pid {
			return p.url
		}
	}
	return ""
}

// devices enrols n devices through a and runs each as fl/client over HTTP
// in courier's rounds, one after another, until stop (or the test's end);
// conn gives device i's connection for its next round. stop waits for the
// devices and may be called more than once.
func (s *serveFL) devices(t *testing.T, ctx context.Context, n int,
	conn func(i int, reg server.Registration) *client.HTTPConn) (regs []server.Registration, stop func()) {
	t.Helper()
	dctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	for i := range n {
		reg, err := (&server.Client{BaseURL: s.a.url, Token: s.enroll}).Register(ctx, server.DeviceInfo{Class: "mid-2022"})
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, reg)
		wg.Go(func() {
			for dctx.Err() == nil {
				m, err := graphOf(s.model)
				if err != nil {
					t.Error(err)
					return
				}
				p := &client.Participant{Device: reg.ID, Task: "courier", Conn: conn(i, reg), Model: m,
					Data: func() ([]*tensor.Tensor, error) { return classData(i), nil }, Poll: 20 * time.Millisecond}
				if out, err := p.Once(dctx); err != nil || !out.Joined {
					time.Sleep(50 * time.Millisecond) // no round open, or its replica died
				}
			}
		})
	}
	return regs, stop
}

// candidate reads courier@v; ok is false while it is not registered.
func (s *serveFL) candidate(t *testing.T, ctx context.Context, v string) (delivery.Version, bool) {
	got, err := s.db.GetVersion(ctx, "courier", v)
	if errors.Is(err, delivery.ErrNotFound) {
		return got, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return got, true
}
