package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/tensor"
)

// serveChildEnv carries the arguments (JSON) of a re-executed test binary
// that plays one `sextant serve` process.
const serveChildEnv = "SEXTANT_TEST_SERVE_CHILD_ARGS"

// TestServeReplicaChild is one `sextant serve` process of
// TestServeFLFailover; it is skipped unless that test started it.
func TestServeReplicaChild(t *testing.T) {
	raw := os.Getenv(serveChildEnv)
	if raw == "" {
		t.Skip("run by TestServeFLFailover")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, args, os.Stdout, os.Stderr); err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
}

// writeClassifier writes a 4-feature, 3-class linear classifier with the
// output the task files' plans train ("logits").
func writeClassifier(t *testing.T, path, name string) {
	t.Helper()
	b := graph.NewBuilder(name, 17)
	b.Input("x", tensor.Float32, "batch", 4)
	b.Initializer("w", tensor.From(make([]float32, 12), 4, 3))
	b.Initializer("b", tensor.From(make([]float32, 3), 3))
	b.Node("Add", []string{b.Op("MatMul", nil, "x", "w"), "b"}, []string{"logits"}, nil)
	b.Output("logits")
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: name, Version: "1.0.0", Signature: bundle.SignatureOf(g)}
	if err := bundle.WriteFile(path, g, m); err != nil {
		t.Fatal(err)
	}
}

// classData is device i's examples: class c's features centre on c.
func classData(i int) []*tensor.Tensor {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	const n = 16
	x, y := make([]float32, 0, 4*n), make([]int64, 0, n)
	for range n {
		c := r.IntN(3)
		for range 4 {
			x = append(x, float32(c)+float32(r.NormFloat64()*0.3))
		}
		y = append(y, int64(c))
	}
	return []*tensor.Tensor{tensor.From(x, n, 4), tensor.From(y, n)}
}

const flTaskYAML = `name: courier
model: {inputs: 4, classes: 3}
plan:
  epochs: 1
  batch_size: 8
  lr: 0.1
  clip_norm: 5
  noise_multiplier: 0.1
target: 4
over_selection: 1
min_reports: 3
selection_window: 2s
round_deadline: 40s
`

type serveProc struct {
	cmd *exec.Cmd
	url string
}

// startServe starts a `sextant serve` process and waits for its URL.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeReplicaChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+string(raw))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	urls := make(chan string, 1)
	var lines lockedBuffer
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(&lines, sc.Text())
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case u := <-urls:
		return &serveProc{cmd: cmd, url: u}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start within 30 s:\n%s", lines.String())
		return nil
	}
}

// TestServeFLFailover: two `sextant serve --fl-task` processes share
// PostgreSQL and a blob directory; the lease holder runs the task's
// rounds for devices that reach it over HTTP. The leader is SIGKILLed with
// a round in flight; the other process takes the lease over and the task
// continues from its last committed round: each round's candidate is
// registered once, in order.
func TestServeFLFailover(t *testing.T) {
	if os.Getenv(serveChildEnv) != "" {
		t.Skip("child")
	}
	dsn := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServeFL(t, ctx, dsn)
	a, b := s.a, s.b

	// The devices follow the leader (a load balancer's job at scale).
	tr := httptransport.New(nil)
	regs, stopDevices := s.devices(t, ctx, 4, func(_ int, reg server.Registration) *client.HTTPConn {
		return &client.HTTPConn{Base: s.leaderURL(t), Device: reg.ID, Credential: reg.Credential, Get: tr, Post: tr}
	})
	last := regs[len(regs)-1]
	probe := &client.HTTPConn{Base: a.url, Device: last.ID, Credential: last.Credential, Get: tr, Post: tr}
	waitFor(t, 90*time.Second, "round 1 on a", func() bool { _, ok := s.candidate(t, ctx, "1.1.0-fl.1"); return ok })
	waitFor(t, 20*time.Second, "round 2 on a", func() bool {
		st, err := probe.Status(ctx, "courier", probe.Device)
		return err == nil && st.Round == 2 && st.Open
	})
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, 10*time.Second, "b to lead", func() bool { return s.leaderURL(t) == b.url })
	t.Logf("b leads %v after a was killed", time.Since(killed).Round(time.Millisecond))
	waitFor(t, 90*time.Second, "round 2 on b", func() bool { _, ok := s.candidate(t, ctx, "1.1.0-fl.2"); return ok })
	stopDevices()

	c1, _ := s.candidate(t, ctx, "1.1.0-fl.1")
	c2, _ := s.candidate(t, ctx, "1.1.0-fl.2")
	if c1.Parent != "1.0.0" || c2.Parent != "1.1.0-fl.1" || c2.PublishedBy != "fl:courier" {
		t.Fatalf("candidates: %+v\n%+v", c1, c2)
	}
	if !(c2.Lineage.Privacy.Epsilon > c1.Lineage.Privacy.Epsilon) {
		t.Fatalf("ε %g then %g: the privacy ledger did not carry over", c1.Lineage.Privacy.Epsilon, c2.Lineage.Privacy.Epsilon)
	}
	vs, err := s.db.ListVersions(ctx, "courier")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Version)
	}
	if want := "1.0.0 1.1.0-fl.1 1.1.0-fl.2"; !strings.HasPrefix(strings.Join(names, " "), want) {
		t.Fatalf("versions %v, want %s first", names, want)
	}
	t.Logf("versions %v; round 2: %v", names, c2.Lineage.FederatedRounds)
	if got := fmt.Sprint(c2.Lineage.FederatedRounds); !strings.Contains(got, "courier/round-2/attempt-3/") {
		t.Fatalf("round 2's lineage %s: the attempt a lost (2) was not recorded, or its id was reused", got)
	}
}

// graphOf reads a bundle's graph (a device's copy of the model).
func graphOf(path string) (*graph.Graph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := bundle.OpenBytes(data) // writable: training overwrites the weights
	if err != nil {
		return nil, err
	}
	return b.Graph, nil
}

// TestLoadFLTasks: --fl-task reads task files in the simulator's schema
// and refuses a bad one, two declaring the same task, and a population
// that is not positive.
func TestLoadFLTasks(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(flTaskYAML), 0o644)
	tasks, err := loadFLTasks([]string{good}, 4, "data")
	if err != nil || len(tasks) != 1 || tasks[0].Task.Name != "courier" || tasks[0].Task.Model != "courier" ||
		tasks[0].Task.Population != 4 || tasks[0].Dir != filepath.Join("data", "fl", "courier") {
		t.Fatalf("good file: %+v, %v", tasks, err)
	}
	if _, err := loadFLTasks([]string{good, good}, 4, "data"); err == nil || !strings.Contains(err.Error(), "both declare") {
		t.Fatalf("the same task twice: %v", err)
	}
	if _, err := loadFLTasks([]string{good}, 0, "data"); err == nil {
		t.Fatal("population 0 accepted")
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(flTaskYAML+"typo: 1\n"), 0o644)
	if _, err := loadFLTasks([]string{bad}, 4, "data"); err == nil {
		t.Fatal("a file with an unknown key was accepted")
	}
	if _, err := loadFLTasks([]string{filepath.Join(dir, "missing.yaml")}, 4, "data"); err == nil {
		t.Fatal("a missing file was accepted")
	}
	if tasks, err := loadFLTasks(nil, 0, "data"); err != nil || len(tasks) != 0 {
		t.Fatalf("no flag: %v, %v", tasks, err)
	}
}
