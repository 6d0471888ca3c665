package flagship

import (
	"math"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// uniform is a float32 tensor of the shape, uniform in ±bound.
func uniform(r *rand.Rand, bound float64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range tensor.Data[float32](t) {
		tensor.Data[float32](t)[i] = float32((2*r.Float64() - 1) * bound)
	}
	return t
}

// normal is a float32 tensor of the shape, N(0, σ²) (torch's nn.Embedding
// uses σ = 1; smaller embeddings start the scorer nearer its linear part).
func normal(r *rand.Rand, sigma float64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range tensor.Data[float32](t) {
		tensor.Data[float32](t)[i] = float32(r.NormFloat64() * sigma)
	}
	return t
}

// linear adds a [in, out] MatMul weight and [out] bias with torch
// nn.Linear's initialization (uniform ±1/√in) under name.
func linear(b *graph.Builder, r *rand.Rand, name string, in, out int, bias bool) {
	bound := 1 / math.Sqrt(float64(in))
	b.Initializer(name+".weight", uniform(r, bound, in, out))
	if bias {
		b.Initializer(name+".bias", uniform(r, bound, out))
	}
}

// ints is an int64 constant.
func ints(b *graph.Builder, v ...int64) string {
	return b.Constant(tensor.From(v, len(v)))
}

// scalar is a float32 scalar constant.
func scalar(b *graph.Builder, v float32) string {
	return b.Constant(tensor.Scalar(v))
}
