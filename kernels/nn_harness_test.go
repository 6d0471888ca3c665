package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// nodeRun is one kernel invocation built the way the engine builds it:
// schema inference for the output shapes, the factory, Prepare, then Run on
// garbage-filled outputs and scratch.
type nodeRun struct {
	node  *graph.Node
	opset int
	in    []*tensor.Tensor
	out   []*tensor.Tensor
	step  Step
	buf   []byte
}

func attrInt(v int64) *graph.Attr      { return &graph.Attr{Kind: graph.AttrInt, Int: v} }
func attrFloat(v float32) *graph.Attr  { return &graph.Attr{Kind: graph.AttrFloat, Float: v} }
func attrStr(v string) *graph.Attr     { return &graph.Attr{Kind: graph.AttrString, String: v} }
func attrInts(v ...int64) *graph.Attr  { return &graph.Attr{Kind: graph.AttrInts, Ints: v} }
func attrStrs(v ...string) *graph.Attr { return &graph.Attr{Kind: graph.AttrStrings, Strings: v} }

// prepareNode builds and prepares op on inputs (nil = omitted); outputs
// lists which of the node's outputs are used (false = unnamed).
func prepareNode(t testing.TB, op string, opset int, attrs map[string]*graph.Attr, outputs []bool, in ...*tensor.Tensor) *nodeRun {
	t.Helper()
	n := &graph.Node{Op: op, Attrs: attrs}
	if op == "FusedGemm" || op == "FusedMatMul" {
		n.Domain = graph.SextantDomain
	}
	ops := make([]graph.Operand, len(in))
	for i, x := range in {
		if x == nil {
			n.Inputs = append(n.Inputs, nil)
			continue
		}
		v := &graph.Value{Name: "in", Type: graph.ShapeOf(x.DType, x.Shape), Const: x}
		n.Inputs = append(n.Inputs, v)
		ops[i] = graph.Operand{Present: true, Type: v.Type, Const: x}
	}
	for _, used := range outputs {
		if used {
			n.Outputs = append(n.Outputs, &graph.Value{Name: "out"})
		} else {
			n.Outputs = append(n.Outputs, nil)
		}
	}
	types, err := graph.InferNode(n, opset, ops)
	if err != nil {
		t.Fatalf("infer %s: %v", op, err)
	}
	r := &nodeRun{node: n, opset: opset, in: in}
	for i, used := range outputs {
		if !used {
			r.out = append(r.out, nil)
			continue
		}
		s, ok := types[i].Concrete()
		if !ok {
			t.Fatalf("%s output %d: type %v not concrete", op, i, types[i])
		}
		o := tensor.New(types[i].DType, s...)
		for j := range o.Raw {
			o.Raw[j] = 0xff // NaN for floats: every element must be written
		}
		r.out = append(r.out, o)
	}
	k, err := New(n, opset)
	if err != nil {
		t.Fatalf("kernel %s: %v", op, err)
	}
	if r.step, err = k.Prepare(in, r.out); err != nil {
		t.Fatalf("prepare %s: %v", op, err)
	}
	r.buf = tensor.AlignedBytes(r.step.Scratch)
	for j := range r.buf {
		r.buf[j] = 0xff
	}
	return r
}

func (r *nodeRun) run(t testing.TB) {
	t.Helper()
	if err := r.step.Run(r.in, r.out, r.buf); err != nil {
		t.Fatalf("run %s: %v", r.node.Op, err)
	}
}

// runOp prepares and runs op once, all outputs used, and returns them.
func runOp(t testing.TB, op string, opset int, attrs map[string]*graph.Attr, nout int, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	used := make([]bool, nout)
	for i := range used {
		used[i] = true
	}
	r := prepareNode(t, op, opset, attrs, used, in...)
	r.run(t)
	return r.out
}

// randT is a float32 tensor of uniform values in [-1, 1).
func randT(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(tensor.Float32, shape...)
	d := tensor.Data[float32](x)
	for i := range d {
		d[i] = float32(rng.Float64()*2 - 1)
	}
	return x
}

// f64s returns a tensor's elements as float64.
func f64s(x *tensor.Tensor) []float64 {
	v := make([]float64, x.Len())
	for i := range v {
		v[i] = x.Float64At(i)
	}
	return v
}

// assertClose fails when got and want differ by more than atol + rtol·|want|.
func assertClose(t testing.TB, what string, got *tensor.Tensor, want []float64, shape tensor.Shape, atol, rtol float64) {
	t.Helper()
	if shape != nil && !got.Shape.Equal(shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	if got.Len() != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, got.Len(), len(want))
	}
	for i, w := range want {
		g := got.Float64At(i)
		if math.IsNaN(g) != math.IsNaN(w) || math.Abs(g-w) > atol+rtol*math.Abs(w) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g, w)
		}
	}
}
