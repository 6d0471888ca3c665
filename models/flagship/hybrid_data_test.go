package flagship

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/features"
	"github.com/sextant-ml/sextant/features/tables"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/mobtest"
	"github.com/sextant-ml/sextant/mobility"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train"
	"github.com/sextant-ml/sextant/train/arch"
)

// etaTrips are held-out trips with both trained models' real outputs.
type etaTrips struct {
	route      []float32 // n × RouteFeatures
	freeFlow   []float32
	travel     []float32
	users      []int64
	small, big []float64 // eta_s of eta-small and eta-server
	smallModel *train.Trainer
	bigModel   *train.Trainer
}

func (e *etaTrips) n() int { return len(e.travel) }

// etaTables generates users × weeks of trips and writes the ETA tables,
// the last holdout weeks in the test split.
func etaTables(t *testing.T, users, weeks, holdout int) (train, test *dataset.Dataset) {
	t.Helper()
	raw := mobtest.Population(t, "../../mobility/wilmington/wilmington-newark.city.gz", mobility.Config{Users: users, Weeks: weeks, Seed: 11, Workers: 2})
	out := t.TempDir()
	_, err := tables.ETA(raw, out, tables.Config{HoldoutWeeks: holdout})
	if err != nil {
		t.Fatal(err)
	}
	if train, err = dataset.Read(filepath.Join(out, "train.parquet")); err != nil {
		t.Fatal(err)
	}
	if test, err = dataset.Read(filepath.Join(out, "test.parquet")); err != nil {
		t.Fatal(err)
	}
	return train, test
}

// trainETA trains an ETA architecture on log_ratio with MSE and Adam, as
// bar.sh does, and returns the trainer (its Graph method returns a fresh
// copy of the trained graph each call).
func trainETA(t *testing.T, build func(arch.Spec) (*arch.Model, error), d *dataset.Dataset, lr float64, epochs int) *train.Trainer {
	t.Helper()
	m, err := build(arch.Spec{Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Infer(m.Graph, nil); err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(m.Graph, train.TrainConfig{Loss: train.MSE{Output: "log_ratio"}, Optimizer: train.Adam{LR: lr}})
	if err != nil {
		t.Fatal(err)
	}
	var cols []*tensor.Tensor
	for _, name := range tr.DataNames() {
		var c *tensor.Tensor
		switch name {
		case "route":
			c, err = d.As("route", tensor.Float32, []int{features.RouteFeatures})
		case "free_flow_s":
			c, err = d.As("free_flow_s", tensor.Float32, []int{})
		case "target":
			c, err = d.As("log_ratio", tensor.Float32, []int{1})
		default:
			t.Fatalf("unexpected training input %q", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	sb, err := train.NewShuffleBatcher(cols, 256, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	for range epochs * sb.BatchesPerEpoch() {
		b, _ := sb.Next()
		if _, err := tr.Step(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// runETA returns a trained model's eta_s on every example of d.
func runETA(t *testing.T, tr *train.Trainer, d *dataset.Dataset) []float64 {
	t.Helper()
	g, err := tr.Graph()
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	route, err := d.As("route", tensor.Float32, []int{features.RouteFeatures})
	if err != nil {
		t.Fatal(err)
	}
	ff, err := d.As("free_flow_s", tensor.Float32, []int{})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := m.NewSession().RunNamed(context.Background(), map[string]*tensor.Tensor{"route": route, "free_flow_s": ff})
	if err != nil {
		t.Fatal(err)
	}
	eta := tensor.Data[float32](outs["eta_s"])
	res := make([]float64, len(eta))
	for i, v := range eta {
		res[i] = float64(v)
	}
	return res
}

func floats32(t *testing.T, d *dataset.Dataset, name string, w int) []float32 {
	t.Helper()
	shape := []int{}
	if w > 1 {
		shape = []int{w}
	}
	c, err := d.As(name, tensor.Float32, shape)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), tensor.Data[float32](c)...)
}

// heldOutETA trains eta-small (1 epoch) and eta-server (2 epochs) as
// bar.sh does on a small population and returns the test split's trips
// with both models' outputs.
func heldOutETA(t *testing.T, users, weeks int) *etaTrips {
	t.Helper()
	tr, te := etaTables(t, users, weeks, 1)
	small := trainETA(t, ETASmall, tr, 0.003, 20)
	big := trainETA(t, ETAServer, tr, 0.001, 30)
	u, err := te.As("user_id", tensor.Int64, []int{})
	if err != nil {
		t.Fatal(err)
	}
	e := &etaTrips{
		route: floats32(t, te, "route", features.RouteFeatures), freeFlow: floats32(t, te, "free_flow_s", 1),
		travel: floats32(t, te, "travel_s", 1), users: append([]int64(nil), tensor.Data[int64](u)...),
		small: runETA(t, small, te), big: runETA(t, big, te), smallModel: small, bigModel: big,
	}
	t.Logf("%d training trips, %d held-out trips", tr.N, te.N)
	return e
}

func mae(pred []float64, truth []float32) float64 {
	s := 0.0
	for i, p := range pred {
		s += math.Abs(p - float64(truth[i]))
	}
	return s / float64(len(pred))
}
