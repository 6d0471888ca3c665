package graph

import (
	"fmt"
	"math"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// refEval is a small, slow reference evaluator over the ops the pass tests
// use. Float tensors are float32 and computed in float64; integer tensors
// are int64. It implements Evaluator for Fold and runs whole graphs for the
// before/after comparisons.
type refEval struct{}

func (refEval) Eval(n *Node, opset int, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	switch n.Op {
	case "Add", "Sub", "Mul", "Div", "Pow":
		return one(binary(n.Op, in[0], in[1]))
	case "Sqrt", "Erf", "Tanh", "Relu", "Sigmoid", "LeakyRelu", "Reciprocal", "Gelu", "Identity", "Neg", "Exp":
		return one(unary(n, in[0]), nil)
	case "MatMul":
		return one(matmul(in[0], in[1], false, false, 1), nil)
	case "FusedMatMul":
		y := matmul(in[0], in[1], false, false, 1)
		y, err := binary("Add", y, in[2])
		if err != nil {
			return nil, err
		}
		return one(activate(n, y), nil)
	case "Gemm", "FusedGemm":
		y := matmul(in[0], in[1], n.Int("transA", 0) == 1, n.Int("transB", 0) == 1, float64(n.Float("alpha", 1)))
		if len(in) > 2 && in[2] != nil {
			c := mapF(in[2], func(v float64) float64 { return v * float64(n.Float("beta", 1)) })
			var err error
			if y, err = binary("Add", y, c); err != nil {
				return nil, err
			}
		}
		if n.Op == "FusedGemm" {
			y = activate(n, y)
		}
		return one(y, nil)
	case "ReduceMean":
		axes, _ := n.Ints("axes")
		return one(reduceMeanLast(in[0], len(axes)), nil)
	case "LayerNormalization":
		return one(layerNorm(n, in))
	case "Gather":
		return one(gatherInts(in[0], in[1]))
	case "Unsqueeze":
		axes, _ := in[1].Int64s()
		s := in[0].Shape.Clone()
		for _, a := range axes {
			s = append(s[:a], append(tensor.Shape{1}, s[a:]...)...)
		}
		return one(&tensor.Tensor{DType: in[0].DType, Shape: s, Raw: in[0].Raw}, nil)
	case "Concat":
		var vals []int64
		for _, t := range in {
			v, _ := t.Int64s()
			vals = append(vals, v...)
		}
		return one(tensor.From(vals, len(vals)), nil)
	case "Expand":
		s, _ := in[1].Int64s()
		shape := make([]int, len(s))
		for i, d := range s {
			shape[i] = int(d)
		}
		return one(binary("Add", in[0], tensor.New(in[0].DType, shape...)))
	case "Softmax":
		return one(softmax(n, opset, in[0]))
	case "ConstantOfShape":
		s, _ := in[0].Int64s()
		shape := make([]int, len(s))
		for i, d := range s {
			shape[i] = int(d)
		}
		return one(tensor.New(tensor.Float32, shape...), nil)
	}
	return nil, &UnsupportedOpError{Op: n.Op, Node: n.Name}
}

// refusing is refEval without some ops, as an engine without their kernels.
type refusing map[string]bool

func (r refusing) Eval(n *Node, opset int, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if r[n.Op] {
		return nil, fmt.Errorf("eval: %w", &UnsupportedOpError{Op: n.Op, Node: n.Name})
	}
	return refEval{}.Eval(n, opset, in)
}

func one(t *tensor.Tensor, err error) ([]*tensor.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{t}, nil
}

func mapF(t *tensor.Tensor, f func(float64) float64) *tensor.Tensor {
	out := tensor.New(tensor.Float32, t.Shape...)
	o := tensor.Data[float32](out)
	for i := range o {
		o[i] = float32(f(t.Float64At(i)))
	}
	return out
}

func binary(op string, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := tensor.BroadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	sa, sb := tensor.BroadcastStrides(a.Shape, shape), tensor.BroadcastStrides(b.Shape, shape)
	out := tensor.New(a.DType, shape...)
	idx := make([]int, len(shape))
	for i := range out.Len() {
		ia, ib := 0, 0
		for k := range idx {
			ia += idx[k] * sa[k]
			ib += idx[k] * sb[k]
		}
		x, y := a.Float64At(ia), b.Float64At(ib)
		var r float64
		switch op {
		case "Add":
			r = x + y
		case "Sub":
			r = x - y
		case "Mul":
			r = x * y
		case "Div":
			r = x / y
		case "Pow":
			r = math.Pow(x, y)
		}
		if a.DType == tensor.Int64 {
			tensor.Data[int64](out)[i] = int64(r)
		} else {
			tensor.Data[float32](out)[i] = float32(r)
		}
		for k := len(idx) - 1; k >= 0; k-- {
			if idx[k]++; idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out, nil
}

func unary(n *Node, x *tensor.Tensor) *tensor.Tensor {
	alpha := float64(n.Float("alpha", 0.01))
	return mapF(x, func(v float64) float64 {
		switch n.Op {
		case "Sqrt":
			return math.Sqrt(v)
		case "Erf":
			return math.Erf(v)
		case "Tanh":
			return math.Tanh(v)
		case "Relu":
			return max(v, 0)
		case "Sigmoid":
			return 1 / (1 + math.Exp(-v))
		case "LeakyRelu":
			if v < 0 {
				return alpha * v
			}
			return v
		case "Reciprocal":
			return 1 / v
		case "Neg":
			return -v
		case "Exp":
			return math.Exp(v)
		case "Gelu":
			if n.Str("approximate", "none") == "tanh" {
				return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}
			return 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
		}
		return v
	})
}

// activate applies a fused node's activation attribute.
func activate(n *Node, y *tensor.Tensor) *tensor.Tensor {
	op := n.Str("activation", "")
	act := &Node{Op: op, Attrs: map[string]*Attr{}}
	switch op {
	case "":
		return y
	case "LeakyRelu":
		act.Attrs["alpha"] = FloatAttr(n.Float("activation_alpha", 0.01))
	case "GeluTanh":
		act.Op, act.Attrs["approximate"] = "Gelu", StringAttr("tanh")
	}
	return unary(act, y)
}

// matmul multiplies [..., M, K] by a 2-D [K, N] (or [N, K] when tb).
func matmul(a, b *tensor.Tensor, ta, tb bool, alpha float64) *tensor.Tensor {
	r := len(a.Shape)
	m, k := a.Shape[r-2], a.Shape[r-1]
	if ta {
		m, k = k, m
	}
	n := b.Shape[1]
	if tb {
		n = b.Shape[0]
	}
	batch := a.Len() / (m * k)
	shape := append(a.Shape[:r-2:r-2], m, n)
	out := tensor.New(tensor.Float32, shape...)
	o := tensor.Data[float32](out)
	for bi := range batch {
		for i := range m {
			for j := range n {
				s := 0.0
				for p := range k {
					ai := bi*m*k + i*k + p
					if ta {
						ai = bi*m*k + p*m + i
					}
					bj := p*n + j
					if tb {
						bj = j*k + p
					}
					s += a.Float64At(ai) * b.Float64At(bj)
				}
				o[bi*m*n+i*n+j] = float32(alpha * s)
			}
		}
	}
	return out
}

// reduceMeanLast averages the last k axes, keeping them.
func reduceMeanLast(x *tensor.Tensor, k int) *tensor.Tensor {
	inner := x.Shape[len(x.Shape)-k:].NumElements()
	shape := x.Shape.Clone()
	for i := len(shape) - k; i < len(shape); i++ {
		shape[i] = 1
	}
	out := tensor.New(tensor.Float32, shape...)
	for i := range out.Len() {
		s := 0.0
		for j := range inner {
			s += x.Float64At(i*inner + j)
		}
		tensor.Data[float32](out)[i] = float32(s / float64(inner))
	}
	return out
}

func layerNorm(n *Node, in []*tensor.Tensor) (*tensor.Tensor, error) {
	x := in[0]
	axis, err := NormAxis(n.Int("axis", -1), len(x.Shape))
	if err != nil {
		return nil, err
	}
	eps := float64(n.Float("epsilon", 1e-5))
	inner := x.Shape[axis:].NumElements()
	if in[1].Len() != inner || (len(in) > 2 && in[2] != nil && in[2].Len() != inner) {
		return nil, fmt.Errorf("layerNorm: scale or bias size differs from %d", inner)
	}
	out := tensor.New(tensor.Float32, x.Shape...)
	o := tensor.Data[float32](out)
	for r := range x.Len() / inner {
		mean, sq := 0.0, 0.0
		for j := range inner {
			mean += x.Float64At(r*inner + j)
		}
		mean /= float64(inner)
		for j := range inner {
			d := x.Float64At(r*inner+j) - mean
			sq += d * d
		}
		std := math.Sqrt(sq/float64(inner) + eps)
		for j := range inner {
			v := (x.Float64At(r*inner+j) - mean) / std * in[1].Float64At(j)
			if len(in) > 2 && in[2] != nil {
				v += in[2].Float64At(j)
			}
			o[r*inner+j] = float32(v)
		}
	}
	return out, nil
}

// softmax normalizes over the last axis (opset 13 semantics, axis -1 only).
func softmax(n *Node, opset int, x *tensor.Tensor) (*tensor.Tensor, error) {
	if a := n.Int("axis", -1); opset < 13 || (a != -1 && int(a) != len(x.Shape)-1) {
		return nil, fmt.Errorf("softmax: only the last axis at opset 13+")
	}
	inner := x.Shape[len(x.Shape)-1]
	out := tensor.New(tensor.Float32, x.Shape...)
	o := tensor.Data[float32](out)
	for r := range x.Len() / inner {
		m := math.Inf(-1)
		for j := range inner {
			m = max(m, x.Float64At(r*inner+j))
		}
		s := 0.0
		for j := range inner {
			s += math.Exp(x.Float64At(r*inner+j) - m)
		}
		for j := range inner {
			o[r*inner+j] = float32(math.Exp(x.Float64At(r*inner+j)-m) / s)
		}
	}
	return out, nil
}

func gatherInts(data, idx *tensor.Tensor) (*tensor.Tensor, error) {
	d, err := data.Int64s()
	if err != nil {
		return nil, err
	}
	ix, err := idx.Int64s()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(ix))
	for i, k := range ix {
		if k < 0 {
			k += int64(len(d))
		}
		out[i] = d[k]
	}
	return tensor.From(out, idx.Shape...), nil
}

// run executes g on inputs (by name) with refEval and returns its outputs.
func run(t *testing.T, g *Graph, inputs map[string]*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	vals := map[*Value]*tensor.Tensor{}
	for _, v := range g.Inputs {
		vals[v] = inputs[v.Name]
	}
	get := func(v *Value) *tensor.Tensor {
		if c := ConstValue(v); c != nil {
			return c
		}
		return vals[v]
	}
	for _, n := range g.Nodes {
		if n.Op == "Constant" {
			continue
		}
		if n.Op == "Shape" {
			s := get(n.Inputs[0]).Shape
			d := make([]int64, len(s))
			for i, x := range s {
				d[i] = int64(x)
			}
			vals[n.Outputs[0]] = tensor.From(d, len(d))
			continue
		}
		in := make([]*tensor.Tensor, len(n.Inputs))
		for i, v := range n.Inputs {
			if v != nil {
				if in[i] = get(v); in[i] == nil {
					t.Fatalf("run: %v: input %q has no value", n, v.Name)
				}
			}
		}
		outs, err := refEval{}.Eval(n, g.Opset, in)
		if err != nil {
			t.Fatalf("run: %v: %v", n, err)
		}
		for j, v := range n.Outputs {
			vals[v] = outs[j]
		}
	}
	res := make([]*tensor.Tensor, len(g.Outputs))
	for i, v := range g.Outputs {
		res[i] = get(v)
	}
	return res
}

// assertClose fails unless got and want have equal shapes and elements
// within tol (absolute plus relative).
func assertClose(t *testing.T, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if !got.Shape.Equal(want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	for i := range want.Len() {
		g, w := got.Float64At(i), want.Float64At(i)
		if math.Abs(g-w) > tol*(1+math.Abs(w)) {
			t.Fatalf("element %d = %v, want %v", i, g, w)
		}
	}
}

// randTensor fills a float32 tensor deterministically from seed.
func randTensor(seed uint64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	s := seed*2654435761 + 1
	for i := range tensor.Data[float32](t) {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		tensor.Data[float32](t)[i] = float32(s%2000)/1000 - 1
	}
	return t
}
