package graph

import (
	"slices"

	"github.com/sextant-ml/sextant/tensor"
)

// layerNorm matches, anchored at its first ReduceMean, the LayerNorm
// subgraph PyTorch exports below opset 17:
//
//	mean = ReduceMean(X, axes)            d = Sub(X, mean)
//	var  = ReduceMean(Pow(d, 2), axes)    (or Mul(d, d))
//	y    = Div(d, Sqrt(Add(var, ε)))      (or Mul(d, Reciprocal(Sqrt(...))))
//	[y = Mul(y, γ)] [y = Add(y, β)]
//
// with axes the last k dimensions of X and keepdims on, and rewrites it to
// LayerNormalization(X, γ or ones, β) with axis -k. γ and β fold in when
// their shapes are X's normalized dimensions (leading 1s allowed for
// constants, which are then reshaped); otherwise the Mul or Add stays. X's
// normalized dimensions must be fixed (run Infer first).
func (f *fuser) layerNorm(r1 *Node, u *uses) (*rewrite, error) {
	if !is(r1, "ReduceMean") {
		return nil, nil
	}
	x := r1.Input(0)
	if x == nil || !x.Type.Known || !fusedFloat(x.Type.DType) {
		return nil, nil
	}
	rank := len(x.Type.Shape)
	k, ok := meanAxes(r1, f.g.Opset, rank)
	if !ok {
		return nil, nil
	}
	normDims := x.Type.Shape[rank-k:]
	norm, ok := Type{Shape: normDims, Known: true}.Concrete()
	if !ok {
		return nil, nil
	}
	mean := out0(r1)
	sub := u.only(mean)
	if !is(sub, "Sub") || sub.Input(0) != x || sub.Input(1) != mean {
		return nil, nil
	}
	d := out0(sub)
	var sq, div *Node
	for _, r := range u.readers[d] {
		switch {
		case is(r, "Pow") && r.Input(0) == d && scalarNear(r.Input(1), 2):
			sq = r
		case is(r, "Mul") && r.Input(0) == d && r.Input(1) == d:
			sq = r
		case is(r, "Div") && r.Input(0) == d, is(r, "Mul"):
			div = r
		default:
			return nil, nil
		}
	}
	if sq == nil || div == nil || !u.private(d, sq, div) {
		return nil, nil
	}
	r2 := u.only(out0(sq))
	if !is(r2, "ReduceMean") {
		return nil, nil
	}
	if k2, ok := meanAxes(r2, f.g.Opset, rank); !ok || k2 != k {
		return nil, nil
	}
	addEps := u.only(out0(r2))
	if !is(addEps, "Add") {
		return nil, nil
	}
	eps, ok := scalar(other(addEps, out0(r2)))
	if !ok || eps < 0 {
		return nil, nil
	}
	sqrt := u.only(out0(addEps))
	if !is(sqrt, "Sqrt") {
		return nil, nil
	}
	s := out0(sqrt)
	nodes := []*Node{r1, sub, sq, r2, addEps, sqrt}
	switch {
	case is(div, "Div") && div.Input(1) == s && u.only(s) == div:
	case is(div, "Mul"):
		rec := u.only(s)
		if !is(rec, "Reciprocal") || other(div, d) != out0(rec) || u.only(out0(rec)) != div {
			return nil, nil
		}
		nodes = append(nodes, rec)
	default:
		return nil, nil
	}
	nodes = append(nodes, div)
	last := out0(div)

	var scale, bias *Value
	if m := u.only(last); is(m, "Mul") {
		if scale = f.fitParam(other(m, last), normDims, x.Type.DType); scale != nil {
			nodes, last = append(nodes, m), out0(m)
		}
	}
	if scale == nil {
		ones := onesLike(x.Type.DType, norm)
		if ones == nil {
			return nil, nil
		}
		scale = f.constant(x.Name+"_ln_scale", ones)
	}
	if a := u.only(last); is(a, "Add") {
		if bias = f.fitParam(other(a, last), normDims, x.Type.DType); bias != nil {
			nodes, last = append(nodes, a), out0(a)
		}
	}
	n := &Node{
		Name:    r1.Name,
		Op:      "LayerNormalization",
		Inputs:  []*Value{x, scale},
		Outputs: []*Value{last},
		Attrs: map[string]*Attr{
			"axis":    IntAttr(int64(-k)),
			"epsilon": FloatAttr(float32(eps)),
		},
	}
	if bias != nil {
		n.Inputs = append(n.Inputs, bias)
	}
	return &rewrite{remove: nodes, node: n}, nil
}

// meanAxes returns k when ReduceMean node r, over an input of the given rank,
// averages exactly the last k axes and keeps them.
func meanAxes(r *Node, opset, rank int) (int, bool) {
	if r.Int("keepdims", 1) != 1 {
		return 0, false
	}
	var axes []int64
	if opset >= 18 {
		if v := r.Input(1); v != nil {
			var ok bool
			if axes, ok = constInts(v); !ok {
				return 0, false
			}
		}
		if len(axes) == 0 && r.Int("noop_with_empty_axes", 0) != 0 {
			return 0, false
		}
	} else {
		axes, _ = r.Ints("axes")
	}
	if len(axes) == 0 {
		return rank, rank > 0
	}
	norm := make([]int, len(axes))
	for i, a := range axes {
		n, err := NormAxis(a, rank)
		if err != nil {
			return 0, false
		}
		norm[i] = n
	}
	slices.Sort(norm)
	for i, a := range norm {
		if a != rank-len(norm)+i {
			return 0, false
		}
	}
	return len(norm), true
}

// fitParam returns p as a LayerNormalization Scale or B for normalized
// dimensions norm: p itself when its shape is norm, a reshaped copy of a
// constant whose shape is norm with leading 1s, or nil when p does not fit.
func (f *fuser) fitParam(p *Value, norm []Dim, dt tensor.DType) *Value {
	if p == nil {
		return nil
	}
	t := typeOf(p)
	if !t.Known || t.DType != dt {
		return nil
	}
	s := t.Shape
	for len(s) > len(norm) && s[0].IsFixed() && s[0].Size == 1 {
		s = s[1:]
	}
	if len(s) != len(norm) {
		return nil
	}
	for i, d := range s {
		if !d.IsFixed() || d.Size != norm[i].Size {
			return nil
		}
	}
	if len(s) == len(t.Shape) {
		return p
	}
	c := ConstValue(p)
	if c == nil {
		return nil
	}
	shape, _ := Type{Shape: norm, Known: true}.Concrete()
	return f.constant(p.Name+"_ln", &tensor.Tensor{DType: c.DType, Shape: shape, Raw: c.Raw})
}

// onesLike returns a tensor of ones of the given type (float32 or float64)
// and shape, or nil for another type.
func onesLike(dt tensor.DType, shape tensor.Shape) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	switch dt {
	case tensor.Float32:
		for i := range tensor.Data[float32](t) {
			tensor.Data[float32](t)[i] = 1
		}
	case tensor.Float64:
		for i := range tensor.Data[float64](t) {
			tensor.Data[float64](t)[i] = 1
		}
	default:
		return nil
	}
	return t
}
