package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// benchMLP is the benchmark model: 32→256→256→64 with Relu, float32,
// weights uniform in ±1/√fan-in like torch.nn.Linear's.
func benchMLP(r *rand.Rand) *graph.Graph {
	b := graph.NewBuilder("bench-mlp", 17)
	b.Input("x", tensor.Float32, "batch", 32)
	dims := []int{32, 256, 256, 64}
	h := "x"
	for i := 0; i+1 < len(dims); i++ {
		w := tensor.New(tensor.Float32, dims[i+1], dims[i])
		bias := tensor.New(tensor.Float32, dims[i+1])
		bound := 1 / float32(dims[i])
		for j := range tensor.Data[float32](w) {
			tensor.Data[float32](w)[j] = (2*r.Float32() - 1) * bound
		}
		wn, bn := "w"+string(rune('1'+i)), "b"+string(rune('1'+i))
		b.Initializer(wn, w)
		b.Initializer(bn, bias)
		h = b.Op("Gemm", map[string]*graph.Attr{"transB": graph.IntAttr(1)}, h, wn, bn)
		if i+2 < len(dims) {
			h = b.Op("Relu", nil, h)
		}
	}
	b.Output(h)
	return b.Graph()
}

func BenchmarkTrainStepMLP(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	tr, err := New(benchMLP(r), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.01}})
	if err != nil {
		b.Fatal(err)
	}
	x := tensor.New(tensor.Float32, 32, 32)
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] = float32(r.NormFloat64())
	}
	y := tensor.New(tensor.Int64, 32)
	for i := range tensor.Data[int64](y) {
		tensor.Data[int64](y)[i] = int64(r.IntN(64))
	}
	batch := []*tensor.Tensor{x, y}
	ctx := context.Background()
	// The first step builds the plan; b.Loop's timer and allocation count
	// start after it.
	if _, err := tr.Step(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Step(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBatch is a batch of 32 standard-normal inputs with labels in [0, 64).
func benchBatch(r *rand.Rand) (x, y *tensor.Tensor) {
	x = tensor.New(tensor.Float32, 32, 32)
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] = float32(r.NormFloat64())
	}
	y = tensor.New(tensor.Int64, 32)
	for i := range tensor.Data[int64](y) {
		tensor.Data[int64](y)[i] = int64(r.IntN(64))
	}
	return x, y
}

// BenchmarkTrainStepMLPDP is BenchmarkTrainStepMLP with DP-SGD: per-example
// clipping of all 32 examples and Gaussian noise on every parameter from
// the default CSPRNG-keyed source (noise.CryptoRand).
func BenchmarkTrainStepMLPDP(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	dp := &DP{NoiseMultiplier: 1, ClipNorm: 1, SampleRate: 0.01, ExpectedBatch: 32, Delta: 1e-5}
	tr, err := New(benchMLP(r), TrainConfig{Loss: SoftmaxCrossEntropy{}, Optimizer: SGD{LR: 0.01}, DP: dp})
	if err != nil {
		b.Fatal(err)
	}
	x, y := benchBatch(r)
	mask := tensor.New(tensor.Float32, 32)
	for i := range tensor.Data[float32](mask) {
		tensor.Data[float32](mask)[i] = 1
	}
	batch := []*tensor.Tensor{x, y, mask}
	ctx := context.Background()
	// The first step builds the plan; b.Loop's timer and allocation count
	// start after it.
	if _, err := tr.Step(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Step(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
