package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func refSoftmax(xv []float64, outer, n, inner int, log bool) []float64 {
	out := make([]float64, len(xv))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			at := func(j int) int { return (o*n+j)*inner + i }
			mx := math.Inf(-1)
			for j := 0; j < n; j++ {
				mx = math.Max(mx, xv[at(j)])
			}
			s := 0.0
			for j := 0; j < n; j++ {
				s += math.Exp(xv[at(j)] - mx)
			}
			for j := 0; j < n; j++ {
				if log {
					out[at(j)] = xv[at(j)] - mx - math.Log(s)
				} else {
					out[at(j)] = math.Exp(xv[at(j)]-mx) / s
				}
			}
		}
	}
	return out
}

func TestSoftmaxAxisSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	x := randT(rng, 2, 3, 4)
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] *= 50 // large values must not overflow
	}
	xv := f64s(x)
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		log := op == "LogSoftmax"
		// Opset 13: a single axis, default -1.
		assertClose(t, op+"-13 default", runOp(t, op, 13, nil, 1, x)[0], refSoftmax(xv, 6, 4, 1, log), x.Shape, 1e-6, 1e-5)
		assertClose(t, op+"-13 axis 1", runOp(t, op, 13, map[string]*graph.Attr{"axis": attrInt(1)}, 1, x)[0],
			refSoftmax(xv, 2, 3, 4, log), x.Shape, 1e-6, 1e-5)
		// Opset 11: coerced to 2-D at axis, default 1.
		assertClose(t, op+"-11 default", runOp(t, op, 11, nil, 1, x)[0], refSoftmax(xv, 2, 12, 1, log), x.Shape, 1e-6, 1e-5)
		assertClose(t, op+"-11 axis 0", runOp(t, op, 11, map[string]*graph.Attr{"axis": attrInt(0)}, 1, x)[0],
			refSoftmax(xv, 1, 24, 1, log), x.Shape, 1e-6, 1e-5)
	}
}
