package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// batchNormKernel is BatchNormalization (ONNX Operators.md
// BatchNormalization-15): per channel (axis 1), y = (x − mean) /
// sqrt(var + ε) · scale + B, with the running statistics as mean and var at
// inference, and in training mode (opset 14+, training_mode=1) the batch's
// own mean and population variance, the running ones updated as
// running·momentum + batch·(1 − momentum).
type batchNormKernel struct {
	eps, momentum float64
	training      bool
}

func newBatchNorm(n *graph.Node, opset int) (Kernel, error) {
	if opset < 9 && n.Int("spatial", 1) == 0 {
		return nil, fmt.Errorf("BatchNormalization: spatial=0 is not supported")
	}
	return &batchNormKernel{
		eps:      float64(n.Float("epsilon", 1e-5)),
		momentum: float64(n.Float("momentum", 0.9)),
		training: opset >= 14 && n.Int("training_mode", 0) != 0,
	}, nil
}

type batchNormPlan struct {
	n, c, spatial int
	eps, momentum float64
	training      bool
}

func (k *batchNormKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	if len(x.Shape) < 2 {
		return Step{}, fmt.Errorf("%w: BatchNormalization input %v", tensor.ErrShape, x)
	}
	p := &batchNormPlan{n: x.Shape[0], c: x.Shape[1], spatial: x.Shape[2:].NumElements(),
		eps: k.eps, momentum: k.momentum, training: k.training}
	for i := 1; i < 5; i++ {
		if t := in[i]; t.DType != x.DType || len(t.Shape) != 1 || t.Shape[0] != p.c {
			return Step{}, fmt.Errorf("%w: BatchNormalization input %d is %v, want %v[%d]", tensor.ErrShape, i, t, x.DType, p.c)
		}
	}
	if err := checkOut(out, 0, x.Shape); err != nil {
		return Step{}, err
	}
	switch x.DType {
	case tensor.Float32:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { batchNormRun[float32](p, in, out); return nil }}, nil
	case tensor.Float64:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { batchNormRun[float64](p, in, out); return nil }}, nil
	}
	return Step{}, unsupportedDType("BatchNormalization", x.DType)
}

func batchNormRun[T floatElem](p *batchNormPlan, in, out []*tensor.Tensor) {
	x, y := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	scale, bias := tensor.Data[T](in[1]), tensor.Data[T](in[2])
	mean, variance := tensor.Data[T](in[3]), tensor.Data[T](in[4])
	plane := p.spatial
	for c := 0; c < p.c; c++ {
		m, v := float64(mean[c]), float64(variance[c])
		if p.training {
			m, v = batchNormStats(x, p, c)
			if len(out) > 1 && out[1] != nil {
				tensor.Data[T](out[1])[c] = T(float64(mean[c])*p.momentum + m*(1-p.momentum))
			}
			if len(out) > 2 && out[2] != nil {
				tensor.Data[T](out[2])[c] = T(float64(variance[c])*p.momentum + v*(1-p.momentum))
			}
		}
		a := float64(scale[c]) / math.Sqrt(v+p.eps)
		b := float64(bias[c]) - m*a
		at, bt := T(a), T(b)
		for i := 0; i < p.n; i++ {
			off := (i*p.c + c) * plane
			xs, ys := x[off:off+plane], y[off:off+plane]
			for j, xv := range xs {
				ys[j] = xv*at + bt
			}
		}
	}
}

// batchNormStats returns channel c's mean and population variance over the
// batch and spatial axes (two passes, in float64).
func batchNormStats[T floatElem](x []T, p *batchNormPlan, c int) (mean, variance float64) {
	plane := p.spatial
	cnt := float64(p.n * plane)
	if cnt == 0 {
		return 0, 0
	}
	var s float64
	for i := 0; i < p.n; i++ {
		off := (i*p.c + c) * plane
		for _, v := range x[off : off+plane] {
			s += float64(v)
		}
	}
	mean = s / cnt
	var ss float64
	for i := 0; i < p.n; i++ {
		off := (i*p.c + c) * plane
		for _, v := range x[off : off+plane] {
			d := float64(v) - mean
			ss += d * d
		}
	}
	return mean, ss / cnt
}

// layerNormKernel is LayerNormalization (ONNX Operators.md
// LayerNormalization-17): each slice X[i₀…i_{axis−1}, :] is normalized to
// zero mean and unit variance, then multiplied by Scale and offset by B
// (both broadcast to X's shape from axis on). Mean and InvStdDev, optional
// outputs, hold the statistics with the normalized axes kept as 1s. It is
// accepted at any opset because the fusion pass emits it.
type layerNormKernel struct {
	axis int64
	eps  float64
}

func newLayerNorm(n *graph.Node, opset int) (Kernel, error) {
	if st := n.Int("stash_type", 1); st != 1 {
		return nil, fmt.Errorf("LayerNormalization: stash_type %d is not supported", st)
	}
	return &layerNormKernel{axis: n.Int("axis", -1), eps: float64(n.Float("epsilon", 1e-5))}, nil
}

type layerNormPlan struct {
	outer, inner int
	eps          float64
	// scaleIdx and biasIdx map a position within a slice to the element of
	// Scale or B it reads; nil when the operand has the slice's full shape.
	scaleIdx, biasIdx []int32
	hasBias           bool
}

// layerNormIndex maps each of the inner positions of shape to the element of
// a tensor of shape s broadcast to it, or returns nil when s equals shape.
func layerNormIndex(s, shape tensor.Shape) ([]int32, error) {
	if s.NumElements() == shape.NumElements() && len(s) <= len(shape) {
		if bs, err := tensor.BroadcastShapes(s, shape); err == nil && bs.Equal(shape) {
			return nil, nil
		}
	}
	bs, err := tensor.BroadcastShapes(s, shape)
	if err != nil || !bs.Equal(shape) {
		return nil, fmt.Errorf("%w: %v does not broadcast to %v", tensor.ErrShape, s, shape)
	}
	st := tensor.BroadcastStrides(s, shape)
	idx := make([]int32, shape.NumElements())
	for i := range idx {
		r, off := i, 0
		for d := len(shape) - 1; d >= 0; d-- {
			off += (r % shape[d]) * st[d]
			r /= shape[d]
		}
		idx[i] = int32(off)
	}
	return idx, nil
}

func (k *layerNormKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	axis, err := tensor.NormalizeAxis(int(k.axis), len(x.Shape))
	if err != nil {
		return Step{}, fmt.Errorf("LayerNormalization: %w", err)
	}
	p := &layerNormPlan{outer: x.Shape[:axis].NumElements(), inner: x.Shape[axis:].NumElements(), eps: k.eps}
	norm := x.Shape[axis:]
	if p.scaleIdx, err = layerNormIndex(in[1].Shape, norm); err != nil {
		return Step{}, fmt.Errorf("LayerNormalization Scale: %w", err)
	}
	if b := inputAt(in, 2); b != nil {
		p.hasBias = true
		if p.biasIdx, err = layerNormIndex(b.Shape, norm); err != nil {
			return Step{}, fmt.Errorf("LayerNormalization B: %w", err)
		}
	}
	for i := 1; i < len(in); i++ {
		if in[i] != nil && in[i].DType != x.DType {
			return Step{}, fmt.Errorf("LayerNormalization: input %d is %v, want %v", i, in[i].DType, x.DType)
		}
	}
	if err := checkOut(out, 0, x.Shape); err != nil {
		return Step{}, err
	}
	stat := x.Shape.Clone()
	for i := axis; i < len(stat); i++ {
		stat[i] = 1
	}
	if err := checkOut(out, 1, stat); err != nil {
		return Step{}, err
	}
	if err := checkOut(out, 2, stat); err != nil {
		return Step{}, err
	}
	switch x.DType {
	case tensor.Float32:
		if p.scaleIdx == nil && p.biasIdx == nil {
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { layerNormRun32(p, in, out); return nil }}, nil
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { layerNormRun[float32](p, in, out); return nil }}, nil
	case tensor.Float64:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { layerNormRun[float64](p, in, out); return nil }}, nil
	}
	return Step{}, unsupportedDType("LayerNormalization", x.DType)
}

func layerNormRun[T floatElem](p *layerNormPlan, in, out []*tensor.Tensor) {
	x, y := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	scale := tensor.Data[T](in[1])
	var bias, meanOut, invOut []T
	if p.hasBias {
		bias = tensor.Data[T](in[2])
	}
	if len(out) > 1 && out[1] != nil {
		meanOut = tensor.Data[T](out[1])
	}
	if len(out) > 2 && out[2] != nil {
		invOut = tensor.Data[T](out[2])
	}
	n := p.inner
	for o := 0; o < p.outer; o++ {
		xs, ys := x[o*n:(o+1)*n], y[o*n:(o+1)*n]
		var s float64
		for _, v := range xs {
			s += float64(v)
		}
		mean := s / float64(n)
		var ss float64
		for _, v := range xs {
			d := float64(v) - mean
			ss += d * d
		}
		inv := 1 / math.Sqrt(ss/float64(n)+p.eps)
		if meanOut != nil {
			meanOut[o] = T(mean)
		}
		if invOut != nil {
			invOut[o] = T(inv)
		}
		mt, it := T(mean), T(inv)
		for j, v := range xs {
			si, bi := j, j
			if p.scaleIdx != nil {
				si = int(p.scaleIdx[j])
			}
			r := (v - mt) * it * scale[si]
			if p.hasBias {
				if p.biasIdx != nil {
					bi = int(p.biasIdx[j])
				}
				r += bias[bi]
			}
			ys[j] = r
		}
	}
}

// layerNormRun32 is layerNormRun for float32 with Scale and B of the
// slice's full shape (the common case): the statistics are accumulated in
// float64 over four independent chains (so the loop is not bound by one add
// chain's latency), and the normalization is one tight float32 pass.
func layerNormRun32(p *layerNormPlan, in, out []*tensor.Tensor) {
	x, y := tensor.Data[float32](in[0]), tensor.Data[float32](out[0])
	n := p.inner
	scale := tensor.Data[float32](in[1])[:n]
	var bias, meanOut, invOut []float32
	if p.hasBias {
		bias = tensor.Data[float32](in[2])[:n]
	}
	if len(out) > 1 && out[1] != nil {
		meanOut = tensor.Data[float32](out[1])
	}
	if len(out) > 2 && out[2] != nil {
		invOut = tensor.Data[float32](out[2])
	}
	for o := 0; o < p.outer; o++ {
		xs, ys := x[o*n:(o+1)*n], y[o*n:(o+1)*n]
		mean := sum4(xs, 0, false) / float64(n)
		inv := 1 / math.Sqrt(sum4(xs, mean, true)/float64(n)+p.eps)
		if meanOut != nil {
			meanOut[o] = float32(mean)
		}
		if invOut != nil {
			invOut[o] = float32(inv)
		}
		mt, it := float32(mean), float32(inv)
		if bias != nil {
			for j, v := range xs {
				ys[j] = (v-mt)*it*scale[j] + bias[j]
			}
		} else {
			for j, v := range xs {
				ys[j] = (v - mt) * it * scale[j]
			}
		}
	}
}

// sum4 returns Σ x (square false) or Σ (x − mean)² (square true) in
// float64, over four independent accumulators.
func sum4(xs []float32, mean float64, square bool) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	if square {
		for ; i+4 <= len(xs); i += 4 {
			d0, d1, d2, d3 := float64(xs[i])-mean, float64(xs[i+1])-mean, float64(xs[i+2])-mean, float64(xs[i+3])-mean
			s0 += d0 * d0
			s1 += d1 * d1
			s2 += d2 * d2
			s3 += d3 * d3
		}
		for ; i < len(xs); i++ {
			d := float64(xs[i]) - mean
			s0 += d * d
		}
	} else {
		for ; i+4 <= len(xs); i += 4 {
			s0 += float64(xs[i])
			s1 += float64(xs[i+1])
			s2 += float64(xs[i+2])
			s3 += float64(xs[i+3])
		}
		for ; i < len(xs); i++ {
			s0 += float64(xs[i])
		}
	}
	return (s0 + s1) + (s2 + s3)
}
