package tables

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/features"
	"github.com/sextant-ml/sextant/internal/mobtest"
	"github.com/sextant-ml/sextant/mobility"
	"github.com/sextant-ml/sextant/tensor"
)

// generate writes a small simulated population to a temporary directory.
func generate(t *testing.T, users, weeks int) string {
	t.Helper()
	return mobtest.Population(t, "../../mobility/wilmington/wilmington-newark.city.gz", mobility.Config{Users: users, Weeks: weeks, Seed: 3, Workers: 1})
}

func column[T float32 | int64](t *testing.T, d *dataset.Dataset, name string) ([]T, int) {
	t.Helper()
	c, ok := d.Column(name)
	if !ok {
		t.Fatalf("no column %q (have %v)", name, d.Columns())
	}
	w := 1
	for _, s := range c.Shape[1:] {
		w *= s
	}
	return tensor.Data[T](c), w
}

func TestNextDestinationTables(t *testing.T) {
	in := generate(t, 12, 4)
	out := t.TempDir()
	st, err := NextDestination(in, out, Config{HoldoutWeeks: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Users != 12 || st.Train == 0 || st.Test == 0 {
		t.Fatalf("stats %+v", st)
	}
	// One held-out week of four: roughly a quarter of the examples.
	if f := float64(st.Test+st.UncoveredTest) / float64(st.Train+st.Test+st.UncoveredTrain+st.UncoveredTest); f < 0.15 || f > 0.35 {
		t.Errorf("test share %.3f, want about 0.25", f)
	}
	if c := st.Coverage(); c < 0.6 || c >= 1 {
		t.Errorf("coverage %.3f", c)
	}
	d, err := dataset.Read(filepath.Join(out, "test.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if d.N != st.Test {
		t.Fatalf("test.parquet has %d rows, stats say %d", d.N, st.Test)
	}
	labels, _ := column[int64](t, d, "label")
	mask, k := column[float32](t, d, "candidate_mask")
	hist, l := column[int64](t, d, "history")
	cands, kf := column[float32](t, d, "candidates")
	markov, _ := column[float32](t, d, "markov")
	if k != features.K || l != features.HistoryLen || kf != features.K*features.CandidateFeatures {
		t.Fatalf("widths: mask %d history %d candidates %d", k, l, kf)
	}
	for i, y := range labels {
		if y < 0 || y >= int64(k) || mask[i*k+int(y)] != 1 {
			t.Fatalf("example %d: label %d is not a real candidate", i, y)
		}
		cur := hist[(i+1)*l-1]
		if cur == features.Pad {
			t.Fatalf("example %d: no current place in history %v", i, hist[i*l:(i+1)*l])
		}
		for _, h := range hist[i*l : (i+1)*l] {
			if h < features.Pad || h > features.NotCandidate {
				t.Fatalf("example %d: history entry %d", i, h)
			}
		}
		// is_current (feature 11) marks exactly the last history entry.
		for c := 0; c < k; c++ {
			is := cands[(i*k+c)*features.CandidateFeatures+11] == 1
			if is != (int64(c) == cur) {
				t.Fatalf("example %d: is_current of candidate %d is %v, current is %d", i, c, is, cur)
			}
		}
		var sum float32
		for _, p := range markov[i*k : (i+1)*k] {
			sum += p
		}
		if sum < 0.98 || sum > 1.0001 {
			t.Fatalf("example %d: markov scores sum to %v", i, sum)
		}
	}
	// Deterministic: a second run writes the same bytes.
	out2 := t.TempDir()
	if _, err := NextDestination(in, out2, Config{HoldoutWeeks: 1}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"train.parquet", "test.parquet"} {
		a, _ := os.ReadFile(filepath.Join(out, f))
		b, _ := os.ReadFile(filepath.Join(out2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs", f)
		}
	}
	// A donor cohort shrinks the training split only.
	st3, err := NextDestination(in, t.TempDir(), Config{HoldoutWeeks: 1, Donors: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if st3.Test != st.Test || st3.Train >= st.Train || st3.Train == 0 {
		t.Errorf("donors 0.5: train %d (all: %d), test %d (all: %d)", st3.Train, st.Train, st3.Test, st.Test)
	}
	if _, err := NextDestination(in, t.TempDir(), Config{HoldoutWeeks: 4}); err == nil {
		t.Error("holding out every week was accepted")
	}
}

func TestETATables(t *testing.T) {
	in := generate(t, 6, 3)
	out := t.TempDir()
	st, err := ETA(in, out, Config{HoldoutWeeks: 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dataset.Read(filepath.Join(out, "train.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if d.N != st.Train {
		t.Fatalf("%d rows, stats say %d", d.N, st.Train)
	}
	route, w := column[float32](t, d, "route")
	ff, _ := column[float32](t, d, "free_flow_s")
	lr, _ := column[float32](t, d, "log_ratio")
	travel, _ := column[float32](t, d, "travel_s")
	if w != features.RouteFeatures {
		t.Fatalf("route width %d, want %d", w, features.RouteFeatures)
	}
	for i := range ff {
		if got := float32(features.LogRatio(float64(travel[i]), float64(ff[i]))); got != lr[i] {
			t.Fatalf("example %d: log_ratio %v, want %v", i, lr[i], got)
		}
		var share float32
		for _, s := range route[i*w+5 : i*w+12] {
			share += s
		}
		if ff[i] > 0 && (share < 0.99 || share > 1.01) {
			t.Fatalf("example %d: class shares sum to %v", i, share)
		}
	}
}
