package train

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func TestStepAllocatesNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  TrainConfig
	}{
		{"sgd", TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.1, Momentum: 0.9}}},
		{"adamw-clip-schedule", TrainConfig{Loss: SoftmaxCrossEntropy{LabelSmoothing: 0.1}, Optimizer: Adam{LR: 0.01, Decoupled: true},
			ClipNorm: 1, Schedule: Warmup{Steps: 3, Then: Cosine{Steps: 50}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := New(parityMLP(t, "init_"), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			xs, ys := parityBatches(t)
			ctx := context.Background()
			batch := []*tensor.Tensor{xs[0], ys[0]}
			for i := 0; i < 2; i++ {
				if _, err := tr.Step(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			i := 0
			allocs := testing.AllocsPerRun(20, func() {
				i++
				batch[0], batch[1] = xs[i], ys[i]
				if _, err := tr.Step(ctx, batch); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("a training step allocates %v times, want 0", allocs)
			}
		})
	}
}

func TestMemoryReportAndBudget(t *testing.T) {
	cfg := TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: Adam{LR: 0.01}, Dims: map[string]int{"batch": 16}}
	tr, err := New(parityMLP(t, "init_"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := tr.Memory()
	const params = (8*16 + 16 + 16 + 16 + 16*4 + 4) * 4
	if r.Params != params || r.Gradients != params || r.OptimizerState != 2*params {
		t.Errorf("report %v: want params %d, gradients %d, optimizer state %d", r, params, params, 2*params)
	}
	// The arena holds at least the gradients and the batch's activations.
	if r.Arena < r.Gradients+16*16*4*3 || r.Total != r.Arena+r.Params+r.OptimizerState {
		t.Errorf("report %v is inconsistent", r)
	}
	cfg.MemoryBudget = r.Total
	if _, err := New(parityMLP(t, "init_"), cfg); err != nil {
		t.Errorf("a run within its budget was refused: %v", err)
	}
	cfg.MemoryBudget = r.Total - 1
	_, err = New(parityMLP(t, "init_"), cfg)
	var be *MemoryBudgetError
	if !errors.As(err, &be) || be.Report.Total != r.Total || be.Budget != r.Total-1 {
		t.Errorf("over budget: got %v, want a *MemoryBudgetError for %d bytes", err, r.Total)
	}
	// Freezing all but the head shrinks gradients and optimizer state.
	cfg.MemoryBudget = 0
	cfg.Params = []string{"w2t", "b2"}
	head, err := New(parityMLP(t, "init_"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hr := head.Memory(); hr.Params != (16*4+4)*4 || hr.OptimizerState != 2*hr.Params || hr.Total >= r.Total {
		t.Errorf("head-only report %v, full %v", hr, r)
	}
}

func TestFrozenParametersStayPut(t *testing.T) {
	g := parityMLP(t, "init_")
	if _, err := New(g, TrainConfig{Params: []string{"head/*"}, Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.1}}); err == nil {
		t.Error("a pattern matching nothing was accepted")
	}
	tr, err := New(g, TrainConfig{Params: []string{"w2?", "b2"}, Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.ParamNames(); len(got) != 2 || got[0] != "b2" && got[1] != "b2" {
		t.Errorf("trainable %v, want w2t and b2", got)
	}
	xs, ys := parityBatches(t)
	for s := 0; s < 5; s++ {
		if _, err := tr.Step(context.Background(), []*tensor.Tensor{xs[s], ys[s]}); err != nil {
			t.Fatal(err)
		}
	}
	init := map[string]*tensor.Tensor{}
	for _, v := range g.Initializers {
		init[v.Name] = v.Const
	}
	tg, err := tr.Graph()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range tg.Initializers {
		same := string(v.Const.Raw) == string(init[v.Name].Raw)
		trained := v.Name == "w2t" || v.Name == "b2"
		if same == trained {
			t.Errorf("%s: unchanged %v after training, trainable %v", v.Name, same, trained)
		}
	}
}

func TestCheckpointRecordsProvenance(t *testing.T) {
	tr, err := New(parityMLP(t, "init_"), TrainConfig{Params: []string{"w2t", "b2"}, Loss: SoftmaxCrossEntropy{}, Optimizer: Adam{LR: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	xs, ys := parityBatches(t)
	for s := 0; s < 7; s++ {
		if _, err := tr.Step(context.Background(), []*tensor.Tensor{xs[s], ys[s]}); err != nil {
			t.Fatal(err)
		}
	}
	parent := &bundle.Manifest{Name: "mlp", Version: "1.2.0", Signature: bundle.SignatureOf(parityMLP(t, "init_"))}
	parent.Provenance.Unknown = map[string]json.RawMessage{stepsKey: json.RawMessage("40")}
	path := filepath.Join(t.TempDir(), "ft.sxm")
	if err := tr.Checkpoint(path, Checkpoint{Parent: parent, Version: "1.2.1", DataSnapshot: "sha256:abc"}); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := b.Manifest
	steps, err := TrainingSteps(m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "mlp" || m.Version != "1.2.1" || m.ParentVersion != "1.2.0" || steps != 47 || m.Provenance.DataSnapshot != "sha256:abc" {
		t.Errorf("manifest %+v (steps %d)", m, steps)
	}
	if m.FineTuning == nil || m.FineTuning.Optimizer.Name != "adam" || len(m.FineTuning.Trainable) != 2 {
		t.Errorf("fine-tuning %+v", m.FineTuning)
	}
	// The bundle's graph computes what the trainer's weights compute.
	model, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := tr.Graph()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := engine.Compile(tg, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := model.NewSession().Run(context.Background(), []*tensor.Tensor{xs[0]})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.NewSession().Run(context.Background(), []*tensor.Tensor{xs[0]})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range tensor.Data[float32](want[0]) {
		if g := tensor.Data[float32](got[0])[i]; math.Abs(float64(g-w)) > 1e-6 {
			t.Fatalf("checkpoint logits[%d] = %v, trainer's %v", i, g, w)
		}
	}
	w2, _ := tr.Param("w2t")
	init := loadNPY(t, "init_w2")
	if tensor.Data[float32](w2)[0] == tensor.Data[float32](init)[0] {
		t.Error("w2t did not change in training")
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		s    Schedule
		step int
		want float64
	}{
		{StepDecay{Every: 10, Gamma: 0.5}, 9, 1},
		{StepDecay{Every: 10, Gamma: 0.5}, 25, 0.25},
		{Cosine{Steps: 100}, 0, 1},
		{Cosine{Steps: 100}, 50, 0.5},
		{Cosine{Steps: 100, MinFactor: 0.1}, 100, 0.1},
		{Cosine{Steps: 100, MinFactor: 0.1}, 500, 0.1},
		{Warmup{Steps: 4}, 0, 0.25},
		{Warmup{Steps: 4}, 3, 1},
		{Warmup{Steps: 4, Then: StepDecay{Every: 2, Gamma: 0.1}}, 6, 0.1},
	}
	for _, c := range cases {
		if got := c.s.Factor(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%#v.Factor(%d) = %v, want %v", c.s, c.step, got, c.want)
		}
	}
}

// regression builds y = x·w + b (x [batch, 4]) with w, b zero, and data
// from a fixed linear map.
func regression(t *testing.T) (*graph.Graph, []*tensor.Tensor, []*tensor.Tensor) {
	b := graph.NewBuilder("linreg", 17)
	b.Input("x", tensor.Float32, "batch", 4)
	b.Initializer("w", tensor.New(tensor.Float32, 4, 2))
	b.Initializer("b", tensor.New(tensor.Float32, 2))
	b.Node("Add", []string{b.Op("MatMul", nil, "x", "w"), "b"}, []string{"y"}, nil)
	b.Output("y")
	r := rand.New(rand.NewPCG(3, 4))
	truth := []float32{1, -2, 0.5, 3, -1, 0.25, 2, 1}
	var xs, ys []*tensor.Tensor
	for s := 0; s < 8; s++ {
		x := tensor.New(tensor.Float32, 16, 4)
		y := tensor.New(tensor.Float32, 16, 2)
		xd, yd := tensor.Data[float32](x), tensor.Data[float32](y)
		for i := range xd {
			xd[i] = float32(r.NormFloat64())
		}
		for i := 0; i < 16; i++ {
			for j := 0; j < 2; j++ {
				v := float32(0.3)
				for k := 0; k < 4; k++ {
					v += xd[i*4+k] * truth[k*2+j]
				}
				yd[i*2+j] = v
			}
		}
		xs, ys = append(xs, x), append(ys, y)
	}
	return b.Graph(), xs, ys
}

func TestRegressionLossesConverge(t *testing.T) {
	for _, loss := range []Loss{MSE{}, Huber{Delta: 1}} {
		g, xs, ys := regression(t)
		tr, err := New(g, TrainConfig{Loss: loss, Optimizer: SGD{LR: 0.05, Momentum: 0.5}})
		if err != nil {
			t.Fatal(err)
		}
		if names := tr.DataNames(); len(names) != 2 || names[1] != "target" {
			t.Fatalf("data names %v", names)
		}
		var first, last float64
		for s := 0; s < 400; s++ {
			l, err := tr.Step(context.Background(), []*tensor.Tensor{xs[s%8], ys[s%8]})
			if err != nil {
				t.Fatal(err)
			}
			if s == 0 {
				first = l
			}
			last = l
		}
		if !(last < first*1e-4) {
			t.Errorf("%T: loss %v → %v after 400 steps, want convergence", loss, first, last)
		}
		if bias, _ := tr.Param("b"); math.Abs(float64(tensor.Data[float32](bias)[0])-0.3) > 1e-2 {
			t.Errorf("%T: learned bias %v, want 0.3", loss, tensor.Data[float32](bias))
		}
	}
}

func TestDropoutTrainsDeterministically(t *testing.T) {
	build := func() *graph.Graph {
		g := parityMLP(t, "init_")
		// Insert Dropout(0.25) after the Relu.
		for i, n := range g.Nodes {
			if n.Op != "Relu" {
				continue
			}
			mid := &graph.Value{Name: "dropped"}
			ratio := &graph.Value{Name: "ratio", Const: tensor.Scalar(float32(0.25)), Type: graph.ShapeOf(tensor.Float32, tensor.Shape{})}
			g.Initializers = append(g.Initializers, ratio)
			d := &graph.Node{Op: "Dropout", Inputs: []*graph.Value{n.Outputs[0], ratio}, Outputs: []*graph.Value{mid}}
			mid.Producer = d
			g.Nodes[i+1].Inputs[0] = mid
			g.Nodes = append(g.Nodes[:i+1], append([]*graph.Node{d}, g.Nodes[i+1:]...)...)
			break
		}
		return g
	}
	xs, ys := parityBatches(t)
	run := func(seed int64) []float64 {
		tr, err := New(build(), TrainConfig{Params: []string{"w1", "b1", "w2t", "b2"}, Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.05}, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		for s := 0; s < 3; s++ {
			l, err := tr.Step(context.Background(), []*tensor.Tensor{xs[s], ys[s]})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("step %d: same seed gave losses %v and %v", i, a[i], b[i])
		}
	}
	if a[0] == c[0] {
		t.Errorf("different seeds gave the same first loss %v", a[0])
	}
	plain, err := New(parityMLP(t, "init_"), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.05}})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := plain.Step(context.Background(), []*tensor.Tensor{xs[0], ys[0]})
	if l == a[0] {
		t.Errorf("dropout did not change the loss (%v)", l)
	}
}

func TestSparseEmbeddingUpdatesMatchDense(t *testing.T) {
	tokens, labels := loadNPYFrom(t, "parity_gru", "tokens"), loadNPYFrom(t, "parity_gru", "labels")
	batch, seq := tokens.Shape[1], tokens.Shape[2]
	build := func(clip float64) *Trainer {
		tr, err := New(parityGRU(t, "init_"), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.5}, ClipNorm: clip, Dims: map[string]int{"batch": batch}})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	// A clip norm no gradient reaches keeps the dense path with the same
	// arithmetic.
	sparse, dense := build(0), build(1e9)
	ops := func(tr *Trainer) map[string]bool {
		m := map[string]bool{}
		for _, n := range tr.model.Graph().Nodes {
			m[n.Op] = true
		}
		return m
	}
	if o := ops(sparse); !o["SparseRowSGD"] || o["GatherGrad"] {
		t.Fatalf("sparse trainer's ops: %v", o)
	}
	if o := ops(dense); o["SparseRowSGD"] || !o["GatherGrad"] {
		t.Fatalf("dense trainer's ops: %v", o)
	}
	if s, d := sparse.Memory(), dense.Memory(); d.Gradients-s.Gradients != 20*8*4 {
		t.Errorf("gradient bytes: sparse %d, dense %d; want the 20×8 table's 640 fewer", s.Gradients, d.Gradients)
	}
	xs := make([]*tensor.Tensor, 25)
	ys := make([]*tensor.Tensor, 25)
	for s := range xs {
		xs[s] = tensor.From(append([]int64(nil), tensor.Data[int64](tokens)[s*batch*seq:(s+1)*batch*seq]...), batch, seq)
		ys[s] = tensor.From(append([]int64(nil), tensor.Data[int64](labels)[s*batch:(s+1)*batch]...), batch)
	}
	for s := 0; s < 5; s++ {
		ls, err := sparse.Step(context.Background(), []*tensor.Tensor{xs[s], ys[s]})
		if err != nil {
			t.Fatal(err)
		}
		ld, err := dense.Step(context.Background(), []*tensor.Tensor{xs[s], ys[s]})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ls-ld) > 1e-6*math.Abs(ld) {
			t.Errorf("step %d: sparse loss %v, dense %v", s+1, ls, ld)
		}
	}
	for _, n := range sparse.ParamNames() {
		a, _ := sparse.Param(n)
		b, _ := dense.Param(n)
		for i, v := range tensor.Data[float32](b) {
			if d := math.Abs(float64(tensor.Data[float32](a)[i] - v)); d > 1e-6 {
				t.Fatalf("%s[%d]: sparse %v, dense %v", n, i, tensor.Data[float32](a)[i], v)
			}
		}
	}
	i := 5
	batchIn := []*tensor.Tensor{xs[i], ys[i]}
	if allocs := testing.AllocsPerRun(10, func() {
		i++
		batchIn[0], batchIn[1] = xs[i], ys[i]
		if _, err := sparse.Step(context.Background(), batchIn); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("a sparse-embedding step allocates %v times", allocs)
	}
}

func TestDefaultParamsSkipScalarConstants(t *testing.T) {
	b := graph.NewBuilder("scalars", 17)
	b.Input("x", tensor.Float32, "batch", 3)
	b.Initializer("w", tensor.From([]float32{1, 2, 3, 4, 5, 6}, 3, 2))
	b.Initializer("two", tensor.Scalar(float32(2)))
	b.Node("Pow", []string{b.Op("MatMul", nil, "x", "w"), "two"}, []string{"y"}, nil)
	b.Output("y")
	names, err := MatchParams(b.Graph(), nil)
	if err != nil || len(names) != 1 || names[0] != "w" {
		t.Fatalf("default parameters %v (%v), want [w]", names, err)
	}
	if names, err := MatchParams(b.Graph(), []string{"two"}); err != nil || len(names) != 1 {
		t.Errorf("a named scalar was not selected: %v %v", names, err)
	}
	tr, err := New(b.Graph(), TrainConfig{Loss: MSE{}, Optimizer: SGD{LR: 1e-3}})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.From([]float32{0.1, 0.2, 0.3, -0.1, 0.5, 0.2}, 2, 3)
	y := tensor.New(tensor.Float32, 2, 2)
	if _, err := tr.Step(context.Background(), []*tensor.Tensor{x, y}); err != nil {
		t.Fatal(err)
	}
}
