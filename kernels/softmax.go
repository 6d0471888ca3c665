package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// softmaxKernel is Softmax and LogSoftmax. Before opset 13 the input is
// coerced to 2-D at axis (default 1) and normalized over the whole second
// factor; from opset 13 it is normalized along the single axis (default -1)
// (ONNX Operators.md, Softmax-1/11 and Softmax-13).
type softmaxKernel struct {
	axis    int64
	coerce  bool
	logSoft bool
}

func newSoftmax(n *graph.Node, opset int) (Kernel, error) {
	k := &softmaxKernel{logSoft: n.Op == "LogSoftmax", coerce: opset < 13}
	def := int64(-1)
	if k.coerce {
		def = 1
	}
	k.axis = n.Int("axis", def)
	return k, nil
}

// softmaxPlan views the input as [outer, len, inner]: each of the
// outer×inner lines of len elements (stride inner) is normalized.
type softmaxPlan struct {
	outer, n, inner int
	logSoft         bool
}

func (k *softmaxKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	axis, err := tensor.NormalizeAxis(int(k.axis), len(x.Shape))
	if err != nil {
		return Step{}, fmt.Errorf("softmax: %w", err)
	}
	if err := checkOut(out, 0, x.Shape); err != nil {
		return Step{}, err
	}
	p := &softmaxPlan{logSoft: k.logSoft}
	p.outer = x.Shape[:axis].NumElements()
	if k.coerce {
		p.n, p.inner = x.Shape[axis:].NumElements(), 1
	} else {
		p.n, p.inner = x.Shape[axis], x.Shape[axis+1:].NumElements()
	}
	switch x.DType {
	case tensor.Float32:
		if p.inner == 1 {
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
				softmaxRows32(p, tensor.Data[float32](in[0]), tensor.Data[float32](out[0]))
				return nil
			}}, nil
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			softmaxRun(p, tensor.Data[float32](in[0]), tensor.Data[float32](out[0]))
			return nil
		}}, nil
	case tensor.Float64:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			softmaxRun(p, tensor.Data[float64](in[0]), tensor.Data[float64](out[0]))
			return nil
		}}, nil
	}
	return Step{}, unsupportedDType("Softmax", x.DType)
}

func softmaxRun[T floatElem](p *softmaxPlan, x, y []T) {
	if p.n == 0 {
		return
	}
	line := p.n * p.inner
	for o := 0; o < p.outer; o++ {
		for i := 0; i < p.inner; i++ {
			base := o*line + i
			softmaxLine(x[base:], y[base:], p.n, p.inner, p.logSoft)
		}
	}
}

// softmaxRows32 normalizes contiguous float32 rows (the axis is the last,
// or the coerced 2-D form) in float32: the row maximum, then e^(x − max)
// and its sum in one vector pass (vmath.ExpSum), then one scaling pass
// (Softmax) or x − max − log(sum) (LogSoftmax).
func softmaxRows32(p *softmaxPlan, x, y []float32) {
	n := p.n
	if n == 0 {
		return
	}
	for o := 0; o < p.outer; o++ {
		xs, ys := x[o*n:(o+1)*n], y[o*n:(o+1)*n]
		mx := xs[0]
		for _, v := range xs[1:] {
			if v > mx {
				mx = v
			}
		}
		sum := vecMath.ExpSum(ys, xs, mx)
		if p.logSoft {
			ls := float32(math.Log(float64(sum)))
			for j, v := range xs {
				ys[j] = v - mx - ls
			}
			continue
		}
		inv := 1 / sum
		for j := range ys {
			ys[j] *= inv
		}
	}
}

// softmaxLine normalizes n elements at stride st: the maximum is subtracted
// before exponentiating so large inputs do not overflow.
func softmaxLine[T floatElem](x, y []T, n, st int, logSoft bool) {
	mx := x[0]
	for j := 1; j < n; j++ {
		if v := x[j*st]; v > mx {
			mx = v
		}
	}
	var sum float64
	if logSoft {
		for j := 0; j < n; j++ {
			sum += math.Exp(float64(x[j*st] - mx))
		}
		ls := T(math.Log(sum))
		for j := 0; j < n; j++ {
			y[j*st] = x[j*st] - mx - ls
		}
		return
	}
	for j := 0; j < n; j++ {
		e := math.Exp(float64(x[j*st] - mx))
		y[j*st] = T(e)
		sum += e
	}
	inv := 1 / sum
	for j := 0; j < n; j++ {
		y[j*st] = T(float64(y[j*st]) * inv)
	}
}
