package train

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// The PyTorch parity fixtures come from testdata/gen_parity.py (torch 1.13,
// float32): an MLP with LayerNorm trained 100 steps with SGD (momentum 0.9)
// and with Adam on the same initial weights and batches.

func loadNPY(t testing.TB, name string) *tensor.Tensor {
	t.Helper()
	return loadNPYFrom(t, "parity", name)
}

func loadNPYFrom(t testing.TB, dir, name string) *tensor.Tensor {
	t.Helper()
	x, err := tensor.ReadNPYFile(filepath.Join("testdata", dir, name+".npy"))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// transpose2D returns the transpose of a float32 matrix.
func transpose2D(m *tensor.Tensor) *tensor.Tensor {
	r, c := m.Shape[0], m.Shape[1]
	out := tensor.New(tensor.Float32, c, r)
	src, dst := tensor.Data[float32](m), tensor.Data[float32](out)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			dst[j*r+i] = src[i*c+j]
		}
	}
	return out
}

// parityMLP builds the fixture's model: Gemm (torch layout, transB) →
// LayerNorm → Relu → MatMul (w2 stored transposed, [in, out]) + b2.
func parityMLP(t testing.TB, prefix string) *graph.Graph {
	b := graph.NewBuilder("parity-mlp", 17)
	b.Input("x", tensor.Float32, "batch", 8)
	for _, n := range []string{"w1", "b1", "ln_s", "ln_b", "b2"} {
		b.Initializer(n, loadNPY(t, prefix+n))
	}
	b.Initializer("w2t", transpose2D(loadNPY(t, prefix+"w2")))
	h := b.Op("Gemm", map[string]*graph.Attr{"transB": graph.IntAttr(1)}, "x", "w1", "b1")
	h = b.Op("LayerNormalization", map[string]*graph.Attr{"epsilon": graph.FloatAttr(1e-5)}, h, "ln_s", "ln_b")
	h = b.Op("Relu", nil, h)
	b.Node("Add", []string{b.Op("MatMul", nil, h, "w2t"), "b2"}, []string{"logits"}, nil)
	b.Output("logits")
	return b.Graph()
}

// parityBatches splits the fixture's data into per-step tensors.
func parityBatches(t testing.TB) (xs, ys []*tensor.Tensor) {
	x, y := loadNPY(t, "x"), loadNPY(t, "y")
	steps, batch, in := x.Shape[0], x.Shape[1], x.Shape[2]
	for s := 0; s < steps; s++ {
		xs = append(xs, tensor.From(append([]float32(nil), tensor.Data[float32](x)[s*batch*in:(s+1)*batch*in]...), batch, in))
		ys = append(ys, tensor.From(append([]int64(nil), tensor.Data[int64](y)[s*batch:(s+1)*batch]...), batch))
	}
	return xs, ys
}

func TestPyTorchParity(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  TrainConfig
	}{
		{"sgd", TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.05, Momentum: 0.9}}},
		{"adam", TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: Adam{LR: 0.01}}},
		{"sgdn", TrainConfig{
			Loss:      SoftmaxCrossEntropy{LabelSmoothing: 0.1, ClassWeights: []float64{0.5, 2, 1, 1.5}},
			Optimizer: SGD{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3},
			Schedule:  StepDecay{Every: 30, Gamma: 0.5},
		}},
		{"adamw", TrainConfig{
			Loss:      SoftmaxCrossEntropy{},
			Optimizer: Adam{LR: 0.01, WeightDecay: 0.05, Decoupled: true},
			Schedule:  Cosine{Steps: 100},
			ClipNorm:  0.5,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Dims = map[string]int{"batch": 16}
			tr, err := New(parityMLP(t, "init_"), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			xs, ys := parityBatches(t)
			want := tensor.Data[float64](loadNPY(t, c.name+"_losses"))
			ctx := context.Background()
			worst := 0.0
			for s := range xs {
				loss, err := tr.Step(ctx, []*tensor.Tensor{xs[s], ys[s]})
				if err != nil {
					t.Fatal(err)
				}
				rel := math.Abs(loss-want[s]) / math.Abs(want[s])
				worst = max(worst, rel)
				if rel > 1e-4 {
					t.Errorf("step %d: loss %.8g, PyTorch %.8g (relative difference %.2g)", s+1, loss, want[s], rel)
				}
			}
			wdiff := 0.0
			for _, n := range []string{"w1", "b1", "ln_s", "ln_b", "w2t", "b2"} {
				got, _ := tr.Param(n)
				var ref *tensor.Tensor
				if n == "w2t" {
					ref = transpose2D(loadNPY(t, c.name+"_w2"))
				} else {
					ref = loadNPY(t, c.name+"_"+n)
				}
				for i, w := range tensor.Data[float32](ref) {
					d := math.Abs(float64(tensor.Data[float32](got)[i] - w))
					wdiff = max(wdiff, d)
					if d > 1e-4 {
						t.Errorf("final %s[%d] = %v, PyTorch %v", n, i, tensor.Data[float32](got)[i], w)
						break
					}
				}
			}
			t.Logf("%s: worst loss relative difference %.3g, worst weight difference %.3g over %d steps", c.name, worst, wdiff, len(xs))
		})
	}
}

// parityGRU builds the embedding + GRU classifier of gen_parity_gru.py:
// Gather → Transpose to [seq, batch, emb] → GRU (linear_before_reset, as
// torch) → last hidden state → Gemm.
func parityGRU(t testing.TB, prefix string) *graph.Graph {
	b := graph.NewBuilder("parity-gru", 17)
	b.Input("tokens", tensor.Int64, "batch", 6)
	for _, n := range []string{"emb", "gru_w", "gru_r", "gru_b", "fc_w", "fc_b"} {
		b.Initializer(n, loadNPYFrom(t, "parity_gru", prefix+n))
	}
	x := b.Op("Transpose", map[string]*graph.Attr{"perm": graph.IntsAttr(1, 0, 2)}, b.Op("Gather", nil, "emb", "tokens"))
	b.Node("GRU", []string{x, "gru_w", "gru_r", "gru_b"}, []string{"", "h"},
		map[string]*graph.Attr{"hidden_size": graph.IntAttr(12), "linear_before_reset": graph.IntAttr(1)})
	h := b.Op("Squeeze", nil, "h", b.Constant(tensor.From([]int64{0}, 1)))
	b.Node("Gemm", []string{h, "fc_w", "fc_b"}, []string{"logits"}, map[string]*graph.Attr{"transB": graph.IntAttr(1)})
	b.Output("logits")
	return b.Graph()
}

func TestPyTorchParityGRU(t *testing.T) {
	tokens, labels := loadNPYFrom(t, "parity_gru", "tokens"), loadNPYFrom(t, "parity_gru", "labels")
	steps, batch, seq := tokens.Shape[0], tokens.Shape[1], tokens.Shape[2]
	for _, c := range []struct {
		name string
		opt  Optimizer
	}{{"sgd", SGD{LR: 0.1, Momentum: 0.9}}, {"adam", Adam{LR: 0.01}}} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := New(parityGRU(t, "init_"), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: c.opt, Dims: map[string]int{"batch": batch}})
			if err != nil {
				t.Fatal(err)
			}
			want := tensor.Data[float64](loadNPYFrom(t, "parity_gru", c.name+"_losses"))
			worst, wdiff := 0.0, 0.0
			for s := 0; s < steps; s++ {
				x := tensor.From(append([]int64(nil), tensor.Data[int64](tokens)[s*batch*seq:(s+1)*batch*seq]...), batch, seq)
				y := tensor.From(append([]int64(nil), tensor.Data[int64](labels)[s*batch:(s+1)*batch]...), batch)
				loss, err := tr.Step(context.Background(), []*tensor.Tensor{x, y})
				if err != nil {
					t.Fatal(err)
				}
				rel := math.Abs(loss-want[s]) / math.Abs(want[s])
				worst = max(worst, rel)
				if rel > 1e-4 {
					t.Errorf("step %d: loss %.8g, PyTorch %.8g", s+1, loss, want[s])
				}
			}
			for _, n := range tr.ParamNames() {
				got, _ := tr.Param(n)
				ref := loadNPYFrom(t, "parity_gru", c.name+"_"+n)
				for i, w := range tensor.Data[float32](ref) {
					d := math.Abs(float64(tensor.Data[float32](got)[i] - w))
					wdiff = max(wdiff, d)
					if d > 1e-4 {
						t.Errorf("final %s[%d] = %v, PyTorch %v", n, i, tensor.Data[float32](got)[i], w)
						break
					}
				}
			}
			t.Logf("%s: worst loss relative difference %.3g, worst weight difference %.3g over %d steps", c.name, worst, wdiff, steps)
		})
	}
}

// TestParityFixturesReproduce regenerates the fixtures with PyTorch, where
// Debian's python3 has it, and checks they match the committed ones (so the
// script in testdata is the true source of the trajectories).
func TestParityFixturesReproduce(t *testing.T) {
	const py = "/usr/bin/python3"
	if testing.Short() {
		t.Skip("short mode")
	}
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Debian's python3 cannot import torch (test.sh installs python3-torch): %v", err)
		}
		t.Skip("Debian's python3 with torch is not installed; the committed trajectories are used as they are")
	}
	for _, c := range []struct {
		script, dir string
		check       []string
	}{
		{"gen_parity.py", "parity", []string{"sgd_losses", "adam_losses", "adamw_losses", "sgdn_losses", "adam_w1"}},
		{"gen_parity_gru.py", "parity_gru", []string{"sgd_losses", "adam_losses", "adam_gru_r"}},
	} {
		dir := t.TempDir()
		script, err := os.ReadFile(filepath.Join("testdata", c.script))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.script), script, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(py, filepath.Join(dir, c.script)).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.script, err, out)
		}
		for _, n := range c.check {
			a, err := tensor.ReadNPYFile(filepath.Join(dir, c.dir, n+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			b := loadNPYFrom(t, c.dir, n)
			for i := 0; i < a.Len(); i++ {
				if d := math.Abs(a.Float64At(i) - b.Float64At(i)); d > 1e-6*math.Abs(b.Float64At(i))+1e-7 {
					t.Fatalf("%s %s[%d]: regenerated %v, committed %v", c.script, n, i, a.Float64At(i), b.Float64At(i))
				}
			}
		}
	}
}
