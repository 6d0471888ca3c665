package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// TestGRUGradF32MatchesReference compares the float32 GEMM path of GRUGrad
// with the float64 reference loop on random operands (every optional input
// present, and dY, dY_h both flowing).
func TestGRUGradF32MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ seq, batch, in, h int }{{5, 3, 4, 6}, {16, 32, 32, 64}, {1, 1, 3, 2}} {
		// Weights at torch's initialization scale (uniform ±1/√h has
		// standard deviation 1/√(3h)).
		h := c.h
		ws := 1 / math.Sqrt(float64(3*h))
		rt := func(scale float64, s ...int) *tensor.Tensor {
			x := tensor.New(tensor.Float32, s...)
			for i := range tensor.Data[float32](x) {
				tensor.Data[float32](x)[i] = float32(scale * r.NormFloat64())
			}
			return x
		}
		in := []*tensor.Tensor{rt(0.5, c.seq, 1, c.batch, h), rt(0.5, 1, c.batch, h), rt(1, c.seq, c.batch, c.in),
			rt(ws, 1, 3*h, c.in), rt(ws, 1, 3*h, h), rt(ws, 1, 6*h), rt(0.5, 1, c.batch, h)}
		shapes := []tensor.Shape{{c.seq, c.batch, c.in}, {1, 3 * h, c.in}, {1, 3 * h, h}, {1, 6 * h}, {1, c.batch, h}}
		p := &gruGradPlan{seq: c.seq, batch: c.batch, in: c.in, h: h, lbr: true}
		bh := c.batch * h
		var l scratchLayout
		p.offH = l.take((p.seq + 1) * bh * 8)
		p.offZ = l.take(p.seq * bh * 8)
		p.offR = l.take(p.seq * bh * 8)
		p.offN = l.take(p.seq * bh * 8)
		p.offQ = l.take(p.seq * bh * 8)
		p.offDh = l.take(2 * bh * 8)
		p.offDa = l.take(3 * h * 8)
		p.offDW = l.take(3 * h * p.in * 8)
		p.offDR = l.take(3 * h * h * 8)
		p.offDB = l.take(6 * h * 8)
		ref, fast := make([]*tensor.Tensor, 5), make([]*tensor.Tensor, 5)
		for i, s := range shapes {
			ref[i], fast[i] = tensor.New(tensor.Float32, s...), tensor.New(tensor.Float32, s...)
			for j := range tensor.Data[float32](fast[i]) {
				tensor.Data[float32](fast[i])[j] = float32(math.NaN()) // must be overwritten
			}
		}
		gruGradRun[float32](p, in, ref, tensor.AlignedBytes(l.size))
		f, size := newGRUGradF32Plan(p)
		gruGradRunF32(p, f, in, fast, tensor.AlignedBytes(size))
		for i := range ref {
			a, b := tensor.Data[float32](ref[i]), tensor.Data[float32](fast[i])
			for j := range a {
				if d := math.Abs(float64(a[j] - b[j])); !(d <= 2e-5+1e-4*math.Abs(float64(a[j]))) {
					t.Fatalf("%+v output %d[%d]: float32 path %v, reference %v", c, i, j, b[j], a[j])
				}
			}
		}
	}
}
