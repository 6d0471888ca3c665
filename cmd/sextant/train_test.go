package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train"
)

// blobs writes a 3-class problem (Gaussian blobs in 4-D, 240 examples) as
// a directory of .npy files and as a Parquet file.
func blobs(t *testing.T) (dir, pq string, x, y *tensor.Tensor) {
	t.Helper()
	const n = 240
	r := rand.New(rand.NewPCG(11, 12))
	x, y = tensor.New(tensor.Float32, n, 4), tensor.New(tensor.Int64, n)
	centers := [3][4]float64{{2, 0, 0, 1}, {-2, 1, 0, 0}, {0, -2, 2, -1}}
	for i := 0; i < n; i++ {
		c := i % 3
		tensor.Data[int64](y)[i] = int64(c)
		for j := 0; j < 4; j++ {
			tensor.Data[float32](x)[i*4+j] = float32(centers[c][j] + 0.7*r.NormFloat64())
		}
	}
	base := t.TempDir()
	dir = filepath.Join(base, "npy")
	pq = filepath.Join(base, "d.parquet")
	if err := dataset.WriteParquet(pq, []string{"x", "label"}, []*tensor.Tensor{x, y}); err != nil {
		t.Fatal(err)
	}
	if err := mkdirNPY(dir, map[string]*tensor.Tensor{"x": x, "label": y}); err != nil {
		t.Fatal(err)
	}
	return dir, pq, x, y
}

func mkdirNPY(dir string, cols map[string]*tensor.Tensor) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for n, c := range cols {
		if err := tensor.WriteNPYFile(filepath.Join(dir, n+".npy"), c); err != nil {
			return err
		}
	}
	return nil
}

func runCLI(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

// accuracy runs the bundle on x and compares the argmax with y.
func accuracy(t *testing.T, path string, x, y *tensor.Tensor) (float64, *bundle.Manifest, map[string][]float32) {
	t.Helper()
	b, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	weights := map[string][]float32{}
	for _, v := range b.Graph.Initializers {
		if v.Const != nil && v.Const.DType == tensor.Float32 {
			weights[v.Name] = append([]float32(nil), tensor.Data[float32](v.Const)...)
		}
	}
	m, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := m.NewSession().Run(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	logits := tensor.Data[float32](outs[0])
	c := outs[0].Shape[1]
	right := 0
	for i, want := range tensor.Data[int64](y) {
		best := 0
		for k := 1; k < c; k++ {
			if logits[i*c+k] > logits[i*c+best] {
				best = k
			}
		}
		if int64(best) == want {
			right++
		}
	}
	man := *b.Manifest
	return float64(right) / float64(len(tensor.Data[int64](y))), &man, weights
}

func TestTrainAndFinetuneCLI(t *testing.T) {
	dir, pq, x, y := blobs(t)
	out := filepath.Join(t.TempDir(), "mlp.sxm")
	stdout, stderr := runCLI(t, "train", "--arch", "mlp", "--hidden", "16", "--data", dir, "--labels", "label",
		"--epochs", "4", "--batch", "16", "--lr", "0.1", "--momentum", "0.9", "-o", out)
	if !strings.Contains(stdout, "trained 60 steps") {
		t.Errorf("stdout %q", stdout)
	}
	// The progress bar rewrites its line and shows loss and throughput.
	if !strings.Contains(stderr, "\r[") || !strings.Contains(stderr, "60/60 steps") || !strings.Contains(stderr, "ex/s") || !strings.Contains(stderr, "memory: arena") {
		t.Errorf("stderr has no progress bar or memory report: %q", stderr)
	}
	acc, m, w0 := accuracy(t, out, x, y)
	if acc < 0.9 {
		t.Errorf("accuracy after training %v", acc)
	}
	if steps, _ := train.TrainingSteps(m); steps != 60 || m.Version != "0.1.0" || m.Provenance.Privacy != nil ||
		!strings.HasPrefix(m.Provenance.DataSnapshot, "sha256:") {
		t.Errorf("manifest: steps %d, version %q, privacy %v, snapshot %q", steps, m.Version, m.Provenance.Privacy, m.Provenance.DataSnapshot)
	}

	// Fine-tune the head only, from Parquet data.
	ft := filepath.Join(t.TempDir(), "ft.sxm")
	runCLI(t, "finetune", out, "--params", "head.*", "--data", pq, "--labels", "label", "--epochs", "1",
		"--batch", "32", "--optimizer", "adam", "--lr", "0.01", "--no-progress", "-o", ft)
	acc2, m2, w1 := accuracy(t, ft, x, y)
	if acc2 < 0.9 {
		t.Errorf("accuracy after fine-tuning %v", acc2)
	}
	for name, v := range w0 {
		changed := false
		for i := range v {
			changed = changed || v[i] != w1[name][i]
		}
		if changed != strings.HasPrefix(name, "head.") {
			t.Errorf("%s changed = %v with --params 'head.*'", name, changed)
		}
	}
	if steps, _ := train.TrainingSteps(m2); steps != 60+8 || m2.ParentVersion != "0.1.0" || m2.Version != "0.1.1" {
		t.Errorf("fine-tuned manifest: steps %d, version %q from %q", steps, m2.Version, m2.ParentVersion)
	}
	if m2.FineTuning == nil || len(m2.FineTuning.Trainable) != 1 || m2.FineTuning.Trainable[0] != "head.*" || m2.FineTuning.Optimizer.Name != "adam" {
		t.Errorf("fine-tuning record %+v", m2.FineTuning)
	}

	// Over a memory budget: refused before training.
	var o, e bytes.Buffer
	err := run(context.Background(), []string{"finetune", out, "--params", "head.*", "--data", pq, "--labels", "label", "--memory-budget", "1000", "-o", ft}, &o, &e)
	if err == nil || !strings.Contains(err.Error(), "over the budget of 1000") {
		t.Errorf("over-budget run: %v", err)
	}
	// A pattern matching nothing is an error, not a silently frozen model.
	if err := run(context.Background(), []string{"finetune", out, "--params", "nope*", "--data", pq, "--labels", "label", "-o", ft}, &o, &e); err == nil {
		t.Error("a --params glob matching nothing was accepted")
	}
}

// TestTrainDPEpsilonMatchesCLI: a DP-SGD run's recorded ε is exactly what
// `sextant privacy epsilon` reports for its (q, σ, steps, δ).
func TestTrainDPEpsilonMatchesCLI(t *testing.T) {
	_, pq, x, y := blobs(t)
	out := filepath.Join(t.TempDir(), "dp.sxm")
	stdout, stderr := runCLI(t, "train", "--arch", "mlp", "--hidden", "16", "--data", pq, "--labels", "label",
		"--epochs", "3", "--batch", "24", "--lr", "0.2", "--dp-noise", "0.9", "--dp-clip", "1", "--delta", "1e-5", "-o", out)
	if !strings.Contains(stdout, "trained 30 steps") || !strings.Contains(stderr, "ε ") {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	acc, m, _ := accuracy(t, out, x, y)
	if acc < 0.6 {
		t.Errorf("DP accuracy %v", acc)
	}
	p := m.Provenance.Privacy
	if p == nil {
		t.Fatal("no privacy cost in the provenance")
	}
	v := runPrivacy(t, "epsilon", "--q", fmtFloat(24.0/240), "--sigma", "0.9", "--steps", "30", "--delta", "1e-5", "--json")
	if eps := v["epsilon"].(float64); p.Epsilon != eps || p.Delta != 1e-5 || p.Accountant != "rdp-sampled-gaussian" {
		t.Errorf("provenance %+v; sextant privacy epsilon says %v", p, eps)
	}
}

// TestTrainUserLevelDP: with --dp-user-column the sampling unit is the
// user — q = batch/users, an epoch users/batch steps — and the recorded ε
// is what `sextant privacy epsilon` reports for that user-level mechanism,
// marked user-level in the provenance.
func TestTrainUserLevelDP(t *testing.T) {
	_, _, x, y := blobs(t)
	const users = 30 // 8 examples each
	ids := tensor.New(tensor.Int64, x.Shape[0])
	for i := range tensor.Data[int64](ids) {
		tensor.Data[int64](ids)[i] = int64(i % users)
	}
	pq := filepath.Join(t.TempDir(), "users.parquet")
	if err := dataset.WriteParquet(pq, []string{"x", "label", "user_id"}, []*tensor.Tensor{x, y, ids}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dp-user.sxm")
	stdout, _ := runCLI(t, "train", "--arch", "mlp", "--input", "x", "--hidden", "16", "--data", pq, "--labels", "label",
		"--epochs", "3", "--batch", "10", "--lr", "0.2", "--dp-noise", "0.9", "--dp-clip", "1", "--delta", "1e-5",
		"--dp-user-column", "user_id", "--dp-max-per-user", "4", "--no-progress", "-o", out)
	if !strings.Contains(stdout, "trained 9 steps") {
		t.Errorf("stdout %q, want 3 epochs of 30/10 user batches", stdout)
	}
	_, m, _ := accuracy(t, out, x, y)
	p := m.Provenance.Privacy
	if p == nil {
		t.Fatal("no privacy cost in the provenance")
	}
	v := runPrivacy(t, "epsilon", "--q", fmtFloat(10.0/users), "--sigma", "0.9", "--steps", "9", "--delta", "1e-5", "--json")
	if eps := v["epsilon"].(float64); p.Epsilon != eps || p.Delta != 1e-5 || p.Accountant != "rdp-sampled-gaussian-user-level" {
		t.Errorf("provenance %+v; sextant privacy epsilon says %v for the user-level mechanism", p, eps)
	}
	// Without noise flags the user column is refused, not ignored.
	var o, e bytes.Buffer
	if err := run(context.Background(), []string{"train", "--arch", "mlp", "--input", "x", "--data", pq, "--labels", "label", "--dp-user-column", "user_id", "-o", out}, &o, &e); err == nil {
		t.Error("--dp-user-column without --dp-noise was accepted")
	}
}
