package flagship

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/features/tables"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/mobtest"
	"github.com/sextant-ml/sextant/mobility"
	"github.com/sextant-ml/sextant/privacy/accountant"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train"
	"github.com/sextant-ml/sextant/train/arch"
)

func paramBytes(g *graph.Graph) int {
	n := 0
	for _, v := range g.Initializers {
		if v.Const != nil && v.Const.DType == tensor.Float32 {
			n += 4 * v.Const.Len()
		}
	}
	return n
}

func TestSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		max  int
	}{{"next-destination", 1 << 20}, {"eta-small", 50_000}, {"eta-server", 1 << 20}} {
		m, err := arch.Registry[c.name](arch.Spec{Rand: rand.New(rand.NewPCG(1, 2))})
		if err != nil {
			t.Fatal(err)
		}
		if err := graph.Infer(m.Graph, nil); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b := paramBytes(m.Graph)
		if b > c.max {
			t.Errorf("%s: %d bytes of parameters, limit %d", c.name, b, c.max)
		}
		t.Logf("%s: %d bytes of float32 parameters", c.name, b)
	}
}

// userTables writes the next-destination tables of a small population.
func userTables(t *testing.T, users, weeks int) string {
	t.Helper()
	raw := mobtest.Population(t, "../../mobility/wilmington/wilmington-newark.city.gz", mobility.Config{Users: users, Weeks: weeks, Seed: 5, Workers: 1})
	out := t.TempDir()
	if _, err := tables.NextDestination(raw, out, tables.Config{HoldoutWeeks: 1}); err != nil {
		t.Fatal(err)
	}
	return out
}

// columns lines up data with the trainer's inputs.
func columns(t *testing.T, g *graph.Graph, tr *train.Trainer, d *dataset.Dataset) []*tensor.Tensor {
	t.Helper()
	types := map[string]graph.Type{}
	for _, v := range g.Inputs {
		types[v.Name] = v.Type
	}
	var out []*tensor.Tensor
	for _, name := range tr.DataNames() {
		if name == "labels" {
			c, err := d.As("label", tensor.Int64, []int{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
			continue
		}
		var shape []int
		for _, s := range types[name].Shape[1:] {
			shape = append(shape, int(s.Size))
		}
		c, err := d.As(name, types[name].DType, shape)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestNextDestinationTrainsAndFineTunes trains the ranker briefly on a
// small population (the full benchmark is `models/flagship/bar.sh`), checks
// the loss falls and the trained graph runs in the engine, then fine-tunes
// the last layer on one user's weeks within the bar's 2 s.
func TestNextDestinationTrainsAndFineTunes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := userTables(t, 16, 4)
	d, err := dataset.Read(filepath.Join(dir, "train.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NextDestination(arch.Spec{Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Infer(m.Graph, nil); err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(m.Graph, train.TrainConfig{Loss: train.SoftmaxCrossEntropy{Output: "logits"}, Optimizer: train.Adam{LR: 0.003}})
	if err != nil {
		t.Fatal(err)
	}
	cols := columns(t, m.Graph, tr, d)
	sb, err := train.NewShuffleBatcher(cols, 64, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	steps := 4 * sb.BatchesPerEpoch()
	for s := 0; s < steps; s++ {
		b, _ := sb.Next()
		loss, err := tr.Step(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		if s < 10 {
			first += loss / 10
		}
		if s >= steps-10 {
			last += loss / 10
		}
	}
	t.Logf("%d examples, %d steps: loss %.3f → %.3f", d.N, steps, first, last)
	if !(last < 0.7*first) {
		t.Errorf("loss fell from %.3f to only %.3f", first, last)
	}
	g, err := tr.Graph()
	if err != nil {
		t.Fatal(err)
	}
	run, err := tr.Graph() // Compile takes ownership: give it its own copy
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Compile(run, engine.Options{}); err != nil {
		t.Fatalf("the trained graph does not compile: %v", err)
	}

	// Last-layer fine-tune on one user's examples (a user's four weeks
	// here; the bar's eight weeks hold about twice as many), 5 epochs.
	users, _ := d.As("user_id", tensor.Int64, []int{})
	var rows []int
	for i, u := range tensor.Data[int64](users) {
		if u == tensor.Data[int64](users)[0] {
			rows = append(rows, i)
		}
	}
	one := make([]*tensor.Tensor, len(cols))
	for j, c := range cols {
		w := c.Len() / c.Shape[0]
		shape := append([]int{len(rows)}, c.Shape[1:]...)
		one[j] = tensor.New(c.DType, shape...)
		esz := c.DType.Size()
		for k, r := range rows {
			copy(one[j].Raw[k*w*esz:(k+1)*w*esz], c.Raw[r*w*esz:(r+1)*w*esz])
		}
	}
	start := time.Now()
	ft, err := train.New(g, train.TrainConfig{Params: []string{"head.*"}, Loss: train.SoftmaxCrossEntropy{Output: "logits"}, Optimizer: train.Adam{LR: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := train.NewShuffleBatcher(one, 32, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 5*fb.BatchesPerEpoch(); s++ {
		b, _ := fb.Next()
		if _, err := ft.Step(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	t.Logf("last-layer fine-tune: %d examples × 5 epochs in %v", len(rows), el)
	if el > 2*time.Second {
		t.Errorf("last-layer fine-tune took %v, bar is 2 s", el)
	}

	// The v1 prior's user-level DP-SGD runs on this architecture (every
	// parameter has a per-example norm rule) and records the user-level ε.
	const q, sigma, delta, dpSteps = 0.25, 1.5, 1e-5, 3
	dp := &train.DP{NoiseMultiplier: sigma, ClipNorm: 1, SampleRate: q, ExpectedBatch: q * 16, Delta: delta, PerUser: true}
	dtr, err := train.New(m.Graph, train.TrainConfig{Loss: train.SoftmaxCrossEntropy{Output: "logits"}, Optimizer: train.Adam{LR: 0.003}, DP: dp})
	if err != nil {
		t.Fatal(err)
	}
	ub, err := train.NewUserPoissonBatcher(cols, tensor.Data[int64](users), q, 16, 0, tensor.Float32, rand.New(rand.NewPCG(7, 8)))
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < dpSteps; s++ {
		b, _ := ub.Next()
		if _, err := dtr.Step(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	p, err := dtr.Privacy()
	if err != nil {
		t.Fatal(err)
	}
	eps, _, err := accountant.DPSGD{Q: q, Steps: dpSteps, Delta: delta}.Epsilon(sigma)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Epsilon != eps || p.Accountant != "rdp-sampled-gaussian-user-level" {
		t.Errorf("user-level DP privacy %+v, want ε %v over users", p, eps)
	}
}
