// Command train times Sextant training steps for train_bench.py, which
// times PyTorch on the same models, initial weights and batches and prints
// the comparison. It reads DIR/<model>/*.npy (weights in ONNX layout, data
// as batches along the first axis), runs warm-up steps, then times each
// step (forward + backward + SGD update: train.Trainer.Step) with the
// monotonic clock and prints JSON: per-step latency percentiles, the first
// losses (so the script can check both sides train the same thing) and Go
// heap allocations per step, which must be 0.
//
// Usage: go run ./train --dir DIR --model mlp|gru [--steps 300] [--warmup 30]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train"
)

type result struct {
	Model        string    `json:"model"`
	Steps        int       `json:"steps"`
	P50US        float64   `json:"p50_us"`
	MeanUS       float64   `json:"mean_us"`
	MinUS        float64   `json:"min_us"`
	AllocsPerRun float64   `json:"allocs_per_step"`
	Losses       []float64 `json:"first_losses"`
	// DP-SGD step (per-example clipping of every example, Gaussian noise
	// from the OS-keyed CSPRNG) on the same batches.
	DPP50US float64 `json:"dp_p50_us,omitempty"`
}

func main() {
	dir := flag.String("dir", "", "directory written by train_bench.py")
	model := flag.String("model", "mlp", "mlp or gru")
	steps := flag.Int("steps", 300, "timed steps")
	warmup := flag.Int("warmup", 30, "untimed steps first")
	lr := flag.Float64("lr", 0.01, "SGD learning rate")
	flag.Parse()
	if err := run(*dir, *model, *steps, *warmup, *lr); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func load(dir, name string) (*tensor.Tensor, error) {
	return tensor.ReadNPYFile(filepath.Join(dir, name+".npy"))
}

// batches splits a [steps, batch, …] tensor into per-step tensors.
func batches(t *tensor.Tensor) []*tensor.Tensor {
	n := t.Shape[0]
	row := len(t.Raw) / n
	out := make([]*tensor.Tensor, n)
	for i := range out {
		out[i] = &tensor.Tensor{DType: t.DType, Shape: t.Shape[1:].Clone(), Raw: t.Raw[i*row : (i+1)*row]}
	}
	return out
}

func build(dir, model string) (*graph.Graph, error) {
	switch model {
	case "mlp":
		b := graph.NewBuilder("mlp", 17)
		b.Input("x", tensor.Float32, "batch", 32)
		h := "x"
		for i := 1; i <= 3; i++ {
			w, err := load(dir, fmt.Sprintf("w%d", i))
			if err != nil {
				return nil, err
			}
			bias, err := load(dir, fmt.Sprintf("b%d", i))
			if err != nil {
				return nil, err
			}
			b.Initializer(fmt.Sprintf("w%d", i), w)
			b.Initializer(fmt.Sprintf("b%d", i), bias)
			h = b.Op("Gemm", map[string]*graph.Attr{"transB": graph.IntAttr(1)}, h, fmt.Sprintf("w%d", i), fmt.Sprintf("b%d", i))
			if i < 3 {
				h = b.Op("Relu", nil, h)
			}
		}
		b.Output(h)
		return b.Graph(), nil
	case "gru":
		b := graph.NewBuilder("gru", 17)
		tok, err := load(dir, "tokens")
		if err != nil {
			return nil, err
		}
		b.Input("tokens", tensor.Int64, "batch", tok.Shape[2])
		for _, n := range []string{"emb", "gru_w", "gru_r", "gru_b", "fc_w", "fc_b"} {
			t, err := load(dir, n)
			if err != nil {
				return nil, err
			}
			b.Initializer(n, t)
		}
		r, _ := load(dir, "gru_r")
		x := b.Op("Transpose", map[string]*graph.Attr{"perm": graph.IntsAttr(1, 0, 2)}, b.Op("Gather", nil, "emb", "tokens"))
		b.Node("GRU", []string{x, "gru_w", "gru_r", "gru_b"}, []string{"", "h"},
			map[string]*graph.Attr{"hidden_size": graph.IntAttr(int64(r.Shape[2])), "linear_before_reset": graph.IntAttr(1)})
		h := b.Op("Squeeze", nil, "h", b.Constant(tensor.From([]int64{0}, 1)))
		b.Node("Gemm", []string{h, "fc_w", "fc_b"}, []string{"logits"}, map[string]*graph.Attr{"transB": graph.IntAttr(1)})
		b.Output("logits")
		return b.Graph(), nil
	}
	return nil, fmt.Errorf("unknown model %q", model)
}

// timeSteps runs warmup then steps training steps over the batches and
// returns the per-step latencies, the first losses and allocations per
// timed step.
func timeSteps(tr *train.Trainer, data [][]*tensor.Tensor, steps, warmup int) ([]time.Duration, []float64, float64, error) {
	ctx := context.Background()
	var losses []float64
	k := 0
	for i := 0; i < warmup; i++ {
		l, err := tr.Step(ctx, data[k%len(data)])
		if err != nil {
			return nil, nil, 0, err
		}
		if len(losses) < 5 {
			losses = append(losses, l)
		}
		k++
	}
	lat := make([]time.Duration, steps)
	runtime.GC()
	gc := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(gc)
	for i := range lat {
		b := data[k%len(data)]
		t0 := time.Now()
		if _, err := tr.Step(ctx, b); err != nil {
			return nil, nil, 0, err
		}
		lat[i] = time.Since(t0)
		k++
	}
	// Heap allocations, counted outside the timed runs: the fewest over a
	// few blocks, since runtime.MemStats.Mallocs also counts the runtime's
	// own (starting an OS thread, the GC's workers), which are not the
	// step's.
	const blocks, per = 5, 50
	best := math.Inf(1)
	for j := 0; j < blocks; j++ {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for i := 0; i < per; i++ {
			if _, err := tr.Step(ctx, data[k%len(data)]); err != nil {
				return nil, nil, 0, err
			}
			k++
		}
		runtime.ReadMemStats(&m1)
		best = min(best, float64(m1.Mallocs-m0.Mallocs)/per)
	}
	return lat, losses, best, nil
}

func stats(lat []time.Duration) (p50, mean, lo float64) {
	s := slices.Clone(lat)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	return us(s[len(s)/2]), us(sum) / float64(len(s)), us(s[0])
}

func run(dir, model string, steps, warmup int, lr float64) error {
	md := filepath.Join(dir, model)
	g, err := build(md, model)
	if err != nil {
		return err
	}
	in := "x"
	if model == "gru" {
		in = "tokens"
	}
	xs, err := load(md, in)
	if err != nil {
		return err
	}
	ys, err := load(md, "labels")
	if err != nil {
		return err
	}
	xb, yb := batches(xs), batches(ys)
	data := make([][]*tensor.Tensor, len(xb))
	for i := range data {
		data[i] = []*tensor.Tensor{xb[i], yb[i]}
	}
	tr, err := train.New(g, train.TrainConfig{Loss: train.SoftmaxCrossEntropy{}, Optimizer: train.SGD{LR: lr}})
	if err != nil {
		return err
	}
	lat, losses, allocs, err := timeSteps(tr, data, steps, warmup)
	if err != nil {
		return err
	}
	res := result{Model: model, Steps: steps, AllocsPerRun: allocs, Losses: losses}
	res.P50US, res.MeanUS, res.MinUS = stats(lat)
	{
		n := xb[0].Shape[0]
		dp := &train.DP{NoiseMultiplier: 1, ClipNorm: 1, SampleRate: 0.01, ExpectedBatch: float64(n), Delta: 1e-5}
		dtr, err := train.New(g, train.TrainConfig{Loss: train.SoftmaxCrossEntropy{}, Optimizer: train.SGD{LR: lr}, DP: dp})
		if err != nil {
			return err
		}
		mask := tensor.New(tensor.Float32, n)
		for i := range tensor.Data[float32](mask) {
			tensor.Data[float32](mask)[i] = 1
		}
		dpData := make([][]*tensor.Tensor, len(data))
		for i, b := range data {
			dpData[i] = []*tensor.Tensor{b[0], b[1], mask}
		}
		dlat, _, dallocs, err := timeSteps(dtr, dpData, steps, warmup)
		if err != nil {
			return err
		}
		res.DPP50US, _, _ = stats(dlat)
		res.AllocsPerRun = max(res.AllocsPerRun, dallocs)
	}
	if res.AllocsPerRun != 0 {
		return fmt.Errorf("%s: %v heap allocations per step, want 0", model, res.AllocsPerRun)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
