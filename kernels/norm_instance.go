package kernels

import (
	"fmt"
	"math"
	"slices"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// instanceNormKernel is InstanceNormalization (ONNX Operators.md
// InstanceNormalization-6): each [n, c] plane is normalized over its
// spatial axes, y = scale[c] · (x − mean) / sqrt(var + ε) + B[c].
type instanceNormKernel struct{ eps float64 }

func newInstanceNorm(n *graph.Node, opset int) (Kernel, error) {
	return &instanceNormKernel{eps: float64(n.Float("epsilon", 1e-5))}, nil
}

func (k *instanceNormKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	if len(x.Shape) < 3 {
		return Step{}, fmt.Errorf("%w: InstanceNormalization input %v", tensor.ErrShape, x)
	}
	c := x.Shape[1]
	for i := 1; i < 3; i++ {
		if t := in[i]; t.DType != x.DType || len(t.Shape) != 1 || t.Shape[0] != c {
			return Step{}, fmt.Errorf("%w: InstanceNormalization input %d is %v, want [%d]", tensor.ErrShape, i, t, c)
		}
	}
	if err := checkOut(out, 0, x.Shape); err != nil {
		return Step{}, err
	}
	planes, size := x.Shape[0]*c, x.Shape[2:].NumElements()
	switch x.DType {
	case tensor.Float32:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			instanceNormRun(k.eps, planes, c, size, tensor.Data[float32](in[0]), tensor.Data[float32](in[1]), tensor.Data[float32](in[2]), tensor.Data[float32](out[0]))
			return nil
		}}, nil
	case tensor.Float64:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			instanceNormRun(k.eps, planes, c, size, tensor.Data[float64](in[0]), tensor.Data[float64](in[1]), tensor.Data[float64](in[2]), tensor.Data[float64](out[0]))
			return nil
		}}, nil
	}
	return Step{}, unsupportedDType("InstanceNormalization", x.DType)
}

func instanceNormRun[T floatElem](eps float64, planes, channels, size int, x, scale, bias, y []T) {
	for p := 0; p < planes; p++ {
		xs, ys := x[p*size:(p+1)*size], y[p*size:(p+1)*size]
		var s float64
		for _, v := range xs {
			s += float64(v)
		}
		mean := s / float64(size)
		var ss float64
		for _, v := range xs {
			d := float64(v) - mean
			ss += d * d
		}
		c := p % channels
		a := float64(scale[c]) / math.Sqrt(ss/float64(size)+eps)
		b := float64(bias[c]) - mean*a
		at, bt := T(a), T(b)
		for i, v := range xs {
			ys[i] = v*at + bt
		}
	}
}

// mvnKernel is MeanVarianceNormalization (ONNX Operators.md
// MeanVarianceNormalization-13, whose function body defines it as
// (X − E[X]) / (sqrt(E[X²] − E[X]²) + 1e-9) over axes, default [0, 2, 3]).
type mvnKernel struct{ axes []int64 }

func newMVN(n *graph.Node, opset int) (Kernel, error) {
	axes, ok := n.Ints("axes")
	if !ok {
		axes = []int64{0, 2, 3}
	}
	return &mvnKernel{axes: axes}, nil
}

// mvnPlan maps every element to its group: the elements that share the
// indices of the axes not normalized over.
type mvnPlan struct {
	group         []int32
	groups        int
	count         float64
	sumOff, sqOff int
}

func (k *mvnKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	if err := checkOut(out, 0, x.Shape); err != nil {
		return Step{}, err
	}
	var axes []int
	for _, a := range k.axes {
		ax, err := tensor.NormalizeAxis(int(a), len(x.Shape))
		if err != nil {
			return Step{}, fmt.Errorf("MeanVarianceNormalization: %w", err)
		}
		axes = append(axes, ax)
	}
	p := &mvnPlan{group: make([]int32, x.Len()), groups: 1, count: 1}
	for i, d := range x.Shape {
		if slices.Contains(axes, i) {
			p.count *= float64(d)
		} else {
			p.groups *= d
		}
	}
	idx := make([]int, len(x.Shape))
	for e := range p.group {
		g := 0
		for i, d := range x.Shape {
			if !slices.Contains(axes, i) {
				g = g*d + idx[i]
			}
		}
		p.group[e] = int32(g)
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < x.Shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	var sl scratchLayout
	p.sumOff = sl.take(8 * p.groups)
	p.sqOff = sl.take(8 * p.groups)
	step := Step{Scratch: sl.size}
	switch x.DType {
	case tensor.Float32:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error {
			mvnRun(p, tensor.Data[float32](in[0]), tensor.Data[float32](out[0]), s)
			return nil
		}
	case tensor.Float64:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error {
			mvnRun(p, tensor.Data[float64](in[0]), tensor.Data[float64](out[0]), s)
			return nil
		}
	default:
		return Step{}, unsupportedDType("MeanVarianceNormalization", x.DType)
	}
	return step, nil
}

func mvnRun[T floatElem](p *mvnPlan, x, y []T, scratch []byte) {
	sum, sq := section[float64](scratch, p.sumOff, p.groups), section[float64](scratch, p.sqOff, p.groups)
	clear(sum)
	clear(sq)
	for e, v := range x {
		g := p.group[e]
		sum[g] += float64(v)
		sq[g] += float64(v) * float64(v)
	}
	for g := range sum {
		mean := sum[g] / p.count
		sum[g] = mean
		sq[g] = math.Sqrt(max(0, sq[g]/p.count-mean*mean)) + 1e-9
	}
	for e, v := range x {
		g := p.group[e]
		y[e] = T((float64(v) - sum[g]) / sq[g])
	}
}
