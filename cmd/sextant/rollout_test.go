package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRolloutCLI drives `sextant rollout` against `sextant serve`:
// create, status, pause, resume, advance, rollback, and kill on a second
// rollout, with each transition in the printed history.
func TestRolloutCLI(t *testing.T) {
	dir := t.TempDir()
	keys, data := filepath.Join(dir, "keys"), filepath.Join(dir, "data")
	t.Setenv(passphraseEnv, "correct horse battery")
	if _, err := sextant(t, "keys", "init", "--dir", keys, "--scrypt-work-factor", "10"); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite:" + filepath.Join(data, "sextant.db")
	os.MkdirAll(data, 0o755)
	token := func(scope string) string {
		out, err := sextant(t, "token", "create", "--scope", scope, "--name", "t", "--db", dsn)
		m := secretLine.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("token create: %v\n%s", err, out)
		}
		return m[1]
	}
	pub, roll := token("publish"), token("rollout")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--keys", keys, "--data", data, "--listen", "127.0.0.1:0"}, &out, &errb)
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errb.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	model := filepath.Join(dir, "eta.sxm")
	writeLinear(t, model, "eta", []float32{1, 2, 3}, 0.5)
	if o, err := sextant(t, "publish", model, "--server", url, "--token", pub, "--keys", keys); err != nil {
		t.Fatalf("publish: %v\n%s", err, o)
	}
	spec := filepath.Join(dir, "spec.json")
	write := func(id string) {
		os.WriteFile(spec, []byte(`{"id":"`+id+`","model":"eta","version":"1.0.0","current":"0.9.0",
			"rule":{"region":["CH"]},"stages":[{"share":1000,"bake":3600000000000},{"share":5000}]}`), 0o644)
	}
	rollout := func(args ...string) string {
		t.Helper()
		o, err := sextant(t, append(append([]string{"rollout"}, args...), "--server", url, "--token", roll)...)
		if err != nil {
			t.Fatalf("rollout %v: %v\n%s", args, err, o)
		}
		return o
	}
	write("r1")
	if o := rollout("create", spec); !strings.Contains(o, "state baking, stage 1 of 2, share 10.00%") {
		t.Fatalf("create:\n%s", o)
	}
	rollout("pause", "r1", "--reason", "looking")
	rollout("resume", "r1")
	if o := rollout("advance", "r1", "--reason", "ok by hand"); !strings.Contains(o, "stage 2 of 2, share 50.00%") {
		t.Fatalf("advance:\n%s", o)
	}
	o := rollout("rollback", "r1", "--reason", "regression")
	for _, want := range []string{"state rolled-back", "paused: looking", "resumed:", "manual advance: ok by hand", "manual rollback: regression"} {
		if !strings.Contains(o, want) {
			t.Errorf("rollback output lacks %q:\n%s", want, o)
		}
	}
	if _, err := sextant(t, "rollout", "pause", "r1", "--server", url, "--token", roll); err == nil {
		t.Error("pausing a rolled-back rollout succeeded")
	}
	write("r2")
	rollout("create", spec)
	if o := rollout("kill", "r2", "--reason", "stop"); !strings.Contains(o, "state killed") || !strings.Contains(o, "killed: stop") {
		t.Fatalf("kill:\n%s", o)
	}
	o = rollout("status")
	if !regexp.MustCompile(`r1\s+eta\s+1\.0\.0\s+0\.9\.0\s+rolled-back`).MatchString(o) ||
		!regexp.MustCompile(`r2\s+eta\s+1\.0\.0\s+0\.9\.0\s+killed`).MatchString(o) {
		t.Fatalf("status:\n%s", o)
	}
	if o := rollout("status", "r2", "--json"); !strings.Contains(o, `"state": "killed"`) {
		t.Fatalf("status --json:\n%s", o)
	}
}
