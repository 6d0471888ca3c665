package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// refReduce reduces x over axes by visiting every element.
func refReduce(x *tensor.Tensor, axes []int, keep bool, op string) ([]float64, tensor.Shape) {
	var outShape, full tensor.Shape
	for i, d := range x.Shape {
		if slices.Contains(axes, i) {
			full = append(full, 1)
			if keep {
				outShape = append(outShape, 1)
			}
		} else {
			full = append(full, d)
			outShape = append(outShape, d)
		}
	}
	if outShape == nil {
		outShape = tensor.Shape{}
	}
	acc := make([][]float64, full.NumElements())
	xv := f64s(x)
	spatialIter(x.Shape, func(idx []int) {
		o := make([]int, len(idx))
		for i := range idx {
			if !slices.Contains(axes, i) {
				o[i] = idx[i]
			}
		}
		k := flatIndex(full, o)
		acc[k] = append(acc[k], xv[flatIndex(x.Shape, idx)])
	})
	out := make([]float64, len(acc))
	for i, vals := range acc {
		switch op {
		case "ReduceSum", "ReduceMean":
			for _, v := range vals {
				out[i] += v
			}
			if op == "ReduceMean" {
				out[i] /= float64(len(vals))
			}
		case "ReduceMax":
			out[i] = math.Inf(-1)
			for _, v := range vals {
				out[i] = math.Max(out[i], v)
			}
		case "ReduceMin":
			out[i] = math.Inf(1)
			for _, v := range vals {
				out[i] = math.Min(out[i], v)
			}
		case "ReduceProd":
			out[i] = 1
			for _, v := range vals {
				out[i] *= v
			}
		case "ReduceL1":
			for _, v := range vals {
				out[i] += math.Abs(v)
			}
		case "ReduceL2", "ReduceSumSquare":
			for _, v := range vals {
				out[i] += v * v
			}
			if op == "ReduceL2" {
				out[i] = math.Sqrt(out[i])
			}
		case "ReduceLogSumExp":
			for _, v := range vals {
				out[i] += math.Exp(v)
			}
			out[i] = math.Log(out[i])
		}
	}
	return out, outShape
}

func TestReduce(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	x := randT(rng, 2, 3, 4, 5)
	axesCases := [][]int{{0}, {3}, {1, 2}, {0, 2}, {1, 3}, {0, 1, 2, 3}, {0, 3}}
	ops := []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"}
	for _, op := range ops {
		for _, axes := range axesCases {
			for _, keep := range []bool{true, false} {
				want, shape := refReduce(x, axes, keep, op)
				attrs := map[string]*graph.Attr{"keepdims": attrInt(map[bool]int64{true: 1, false: 0}[keep])}
				neg := make([]int64, len(axes))
				for i, a := range axes {
					neg[i] = int64(a - 4) // negative axes
				}
				var got *tensor.Tensor
				if op == "ReduceSum" {
					got = runOp(t, op, 13, attrs, 1, x, tensor.From(neg, len(neg)))[0]
				} else {
					attrs["axes"] = attrInts(neg...)
					got = runOp(t, op, 13, attrs, 1, x)[0]
				}
				assertClose(t, op, got, want, shape, 1e-5, 1e-4)
			}
		}
	}
}

func TestReduceEmptyAxesAndOpsetForms(t *testing.T) {
	x := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	empty := tensor.From([]int64{}, 0)
	// Empty axes input: reduce everything, or nothing with noop_with_empty_axes.
	got := runOp(t, "ReduceSum", 13, nil, 1, x, empty)[0]
	assertClose(t, "all", got, []float64{21}, tensor.Shape{1, 1}, 0, 0)
	got = runOp(t, "ReduceSum", 13, map[string]*graph.Attr{"noop_with_empty_axes": attrInt(1)}, 1, x, empty)[0]
	assertClose(t, "noop", got, []float64{1, 2, 3, 4, 5, 6}, tensor.Shape{2, 3}, 0, 0)
	// ReduceSum-11 takes axes as an attribute; ReduceMean-18 as an input.
	got = runOp(t, "ReduceSum", 11, map[string]*graph.Attr{"axes": attrInts(1), "keepdims": attrInt(0)}, 1, x)[0]
	assertClose(t, "ReduceSum-11", got, []float64{6, 15}, tensor.Shape{2}, 0, 0)
	got = runOp(t, "ReduceMean", 18, map[string]*graph.Attr{"keepdims": attrInt(0)}, 1, x, tensor.From([]int64{0}, 1))[0]
	assertClose(t, "ReduceMean-18", got, []float64{2.5, 3.5, 4.5}, tensor.Shape{3}, 0, 0)
	// Integer reductions stay integer.
	xi := tensor.From([]int64{1, -7, 3, 4}, 2, 2)
	got = runOp(t, "ReduceMax", 13, map[string]*graph.Attr{"axes": attrInts(0)}, 1, xi)[0]
	assertClose(t, "int max", got, []float64{3, 4}, tensor.Shape{1, 2}, 0, 0)
	// A reduced axis of size 0 gives the identity.
	z := tensor.New(tensor.Float32, 2, 0)
	got = runOp(t, "ReduceSum", 13, map[string]*graph.Attr{"keepdims": attrInt(0)}, 1, z, tensor.From([]int64{1}, 1))[0]
	assertClose(t, "empty sum", got, []float64{0, 0}, tensor.Shape{2}, 0, 0)
}

func TestReduceSchemaValueInputs(t *testing.T) {
	s, ok := graph.Lookup("ReduceSum")
	if !ok || !slices.Equal(s.ValueInputs(13), []int{1}) || len(s.ValueInputs(11)) != 0 {
		t.Fatal("ReduceSum must take axes as a value input from opset 13")
	}
	s, _ = graph.Lookup("ReduceMean")
	if len(s.ValueInputs(17)) != 0 || !slices.Equal(s.ValueInputs(18), []int{1}) {
		t.Fatal("ReduceMean must take axes as a value input from opset 18")
	}
}
