package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Gradients of the operators that normalize along axes: Softmax,
// LogSoftmax and LayerNormalization.

func addGradAxis(add func(string, Factory)) {
	add("SoftmaxGrad", newSoftmaxGrad)
	add("LogSoftmaxGrad", newSoftmaxGrad)
	add("LayerNormalizationGrad", newLayerNormGrad)
}

// newSoftmaxGrad is (dY, Y) → dX for Softmax (dX = Y·(dY − Σ dY·Y)) and
// LogSoftmax (dX = dY − exp(Y)·Σ dY), sums along the lines the forward op
// normalized. The node carries the forward node's axis and is interpreted
// at the same opset, so the pre-13 coercion to 2-D carries over.
func newSoftmaxGrad(n *graph.Node, opset int) (Kernel, error) {
	coerce := opset < 13
	def := int64(-1)
	if coerce {
		def = 1
	}
	axis := n.Int("axis", def)
	logSoft := n.Op == "LogSoftmaxGrad"
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy, y := in[0], in[1]
		if !dy.Shape.Equal(y.Shape) || dy.DType != y.DType {
			return Step{}, fmt.Errorf("%w: %s operands %v and %v", tensor.ErrShape, n.Op, dy, y)
		}
		ax, err := tensor.NormalizeAxis(int(axis), len(y.Shape))
		if err != nil {
			return Step{}, fmt.Errorf("%s: %w", n.Op, err)
		}
		if err := checkOut(out, 0, y.Shape); err != nil {
			return Step{}, err
		}
		p := &softmaxPlan{logSoft: logSoft, outer: y.Shape[:ax].NumElements()}
		if coerce {
			p.n, p.inner = y.Shape[ax:].NumElements(), 1
		} else {
			p.n, p.inner = y.Shape[ax], y.Shape[ax+1:].NumElements()
		}
		return floatStep(n.Op, y.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { softmaxGradRun[float32](p, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { softmaxGradRun[float64](p, in, out); return nil })
	}), nil
}

func softmaxGradRun[T floatElem](p *softmaxPlan, in, out []*tensor.Tensor) {
	dy, y, dx := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	for o := 0; o < p.outer; o++ {
		for j := 0; j < p.inner; j++ {
			base := o*p.n*p.inner + j
			var s float64
			for k := 0; k < p.n; k++ {
				i := base + k*p.inner
				if p.logSoft {
					s += float64(dy[i])
				} else {
					s += float64(dy[i]) * float64(y[i])
				}
			}
			for k := 0; k < p.n; k++ {
				i := base + k*p.inner
				if p.logSoft {
					dx[i] = T(float64(dy[i]) - math.Exp(float64(y[i]))*s)
				} else {
					dx[i] = T(float64(y[i]) * (float64(dy[i]) - s))
				}
			}
		}
	}
}

// layerNormGradPlan views X as outer rows of inner elements; Scale has the
// inner shape (broadcast Scale is not supported by the gradient).
type layerNormGradPlan struct {
	outer, inner int
	eps          float64
}

// newLayerNormGrad is (dY, X, Scale) → dX, dScale, dB of LayerNormalization
// (axis, epsilon as the forward node). Per row, with x̂ = (x − μ)·r and
// r = 1/√(σ² + ε) recomputed from X, and g = dY·Scale:
// dX = r·(g − mean(g) − x̂·mean(g·x̂)); dScale = Σ_rows dY·x̂; dB = Σ_rows dY.
// Statistics and the column sums are accumulated in float64 (scratch).
func newLayerNormGrad(n *graph.Node, opset int) (Kernel, error) {
	axis := n.Int("axis", -1)
	eps := float64(n.Float("epsilon", 1e-5))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy, x, scale := in[0], in[1], in[2]
		ax, err := tensor.NormalizeAxis(int(axis), len(x.Shape))
		if err != nil {
			return Step{}, fmt.Errorf("LayerNormalizationGrad: %w", err)
		}
		p := &layerNormGradPlan{outer: x.Shape[:ax].NumElements(), inner: x.Shape[ax:].NumElements(), eps: eps}
		if !dy.Shape.Equal(x.Shape) || scale.Len() != p.inner || dy.DType != x.DType || scale.DType != x.DType {
			return Step{}, fmt.Errorf("%w: LayerNormalizationGrad operands %v, %v, scale %v", tensor.ErrShape, dy, x, scale)
		}
		for i, s := range []tensor.Shape{x.Shape, scale.Shape, scale.Shape} {
			if err := checkOut(out, i, s); err != nil {
				return Step{}, err
			}
		}
		scratch := 2 * p.inner * 8
		return floatStep("LayerNormalizationGrad", x.DType, scratch,
			func(in, out []*tensor.Tensor, s []byte) error { layerNormGradRun[float32](p, in, out, s); return nil },
			func(in, out []*tensor.Tensor, s []byte) error { layerNormGradRun[float64](p, in, out, s); return nil })
	}), nil
}

func layerNormGradRun[T floatElem](p *layerNormGradPlan, in, out []*tensor.Tensor, scratch []byte) {
	dy, x, scale := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](in[2])
	ds := section[float64](scratch, 0, p.inner)
	db := section[float64](scratch, p.inner*8, p.inner)
	clear(ds)
	clear(db)
	var dx []T
	if out[0] != nil {
		dx = tensor.Data[T](out[0])
	}
	m := float64(p.inner)
	for o := 0; o < p.outer; o++ {
		xs, dys := x[o*p.inner:(o+1)*p.inner], dy[o*p.inner:(o+1)*p.inner]
		var mean float64
		for _, v := range xs {
			mean += float64(v)
		}
		mean /= m
		var variance float64
		for _, v := range xs {
			d := float64(v) - mean
			variance += d * d
		}
		r := 1 / math.Sqrt(variance/m+p.eps)
		var sg, sgx float64
		for i, v := range xs {
			xh := (float64(v) - mean) * r
			g := float64(dys[i]) * float64(scale[i])
			sg += g
			sgx += g * xh
			ds[i] += float64(dys[i]) * xh
			db[i] += float64(dys[i])
		}
		if dx == nil {
			continue
		}
		sg /= m
		sgx /= m
		row := dx[o*p.inner : (o+1)*p.inner]
		for i, v := range xs {
			xh := (float64(v) - mean) * r
			g := float64(dys[i]) * float64(scale[i])
			row[i] = T(r * (g - sg - xh*sgx))
		}
	}
	if len(out) > 1 && out[1] != nil {
		for i, v := range ds {
			tensor.Data[T](out[1])[i] = T(v)
		}
	}
	if len(out) > 2 && out[2] != nil {
		for i, v := range db {
			tensor.Data[T](out[2])[i] = T(v)
		}
	}
}
