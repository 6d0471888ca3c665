package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// TestTrainUserLevelDPByUser: user-level DP-SGD on a Parquet table grouped
// by the user column reads the sampled users' rows as it goes, takes the
// --steps asked for, records the accountant's user-level ε for q =
// batch/users over those steps, and learns; a table not grouped by user
// is read whole and trains as before.
func TestTrainUserLevelDPByUser(t *testing.T) {
	_, _, x, y := blobs(t)
	const users = 30 // 8 examples each, contiguous
	ids := tensor.New(tensor.Int64, x.Shape[0])
	for i := range tensor.Data[int64](ids) {
		tensor.Data[int64](ids)[i] = int64(100 + i/8)
	}
	pq := filepath.Join(t.TempDir(), "grouped.parquet")
	if err := dataset.WriteParquet(pq, []string{"user_id", "x", "label"}, []*tensor.Tensor{ids, x, y}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dp-user.sxm")
	stdout, stderr := runCLI(t, "train", "--arch", "mlp", "--input", "x", "--hidden", "16", "--data", pq, "--labels", "label",
		"--steps", "40", "--stream-above", "0", "--batch", "10", "--lr", "0.2", "--dp-noise", "0.5", "--dp-clip", "1", "--delta", "1e-5",
		"--dp-user-column", "user_id", "--dp-max-per-user", "4", "--no-progress", "-o", out)
	if !strings.Contains(stdout, "trained 40 steps") {
		t.Errorf("stdout %q, want the 40 steps asked for", stdout)
	}
	if !strings.Contains(stderr, "30 users' rows read from") {
		t.Errorf("stderr %q: the grouped table was not read by user", stderr)
	}
	acc, m, _ := accuracy(t, out, x, y)
	if acc < 0.6 {
		t.Errorf("accuracy %.3f after 40 DP steps on separable blobs (chance 0.33)", acc)
	}
	p := m.Provenance.Privacy
	if p == nil {
		t.Fatal("no privacy cost in the provenance")
	}
	v := runPrivacy(t, "epsilon", "--q", fmtFloat(10.0/users), "--sigma", "0.5", "--steps", "40", "--delta", "1e-5", "--json")
	if eps := v["epsilon"].(float64); p.Epsilon != eps || p.Accountant != "rdp-sampled-gaussian-user-level" {
		t.Errorf("provenance %+v; sextant privacy epsilon says %v for the user-level mechanism", p, eps)
	}

	// Interleaved users: not grouped, so read whole.
	for i := range tensor.Data[int64](ids) {
		tensor.Data[int64](ids)[i] = int64(100 + i%users)
	}
	mixed := filepath.Join(t.TempDir(), "mixed.parquet")
	if err := dataset.WriteParquet(mixed, []string{"user_id", "x", "label"}, []*tensor.Tensor{ids, x, y}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr = runCLI(t, "train", "--arch", "mlp", "--input", "x", "--hidden", "16", "--data", mixed, "--labels", "label",
		"--epochs", "2", "--stream-above", "0", "--batch", "10", "--lr", "0.2", "--dp-noise", "0.5", "--dp-clip", "1",
		"--dp-user-column", "user_id", "--no-progress", "-o", out)
	if !strings.Contains(stdout, "trained 6 steps") || strings.Contains(stderr, "rows read from") {
		t.Errorf("interleaved users: stdout %q, stderr %q; want 2 epochs of 30/10 from the whole table", stdout, stderr)
	}
}
