package graph

import (
	"maps"

	"github.com/sextant-ml/sextant/tensor"
)

// activations maps the activation ops that fold into FusedMatMul and
// FusedGemm to their "activation" attribute value ("" for Gelu, which
// depends on its approximate attribute).
var activations = map[string]string{
	"Relu": "Relu", "LeakyRelu": "LeakyRelu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Gelu": "",
}

// matMulBias matches MatMul(A, B) + Bias [+ activation], where Bias has N
// elements (B is [..., K, N]) and broadcasts as [N], and rewrites it to
// FusedMatMul(A, B, Bias) with Bias made 1-D. Only float32 is fused.
func (f *fuser) matMulBias(m *Node, u *uses) (*rewrite, error) {
	if !is(m, "MatMul") || len(m.Inputs) != 2 || len(m.Outputs) != 1 {
		return nil, nil
	}
	a, b := m.Input(0), m.Input(1)
	mo := out0(m)
	add := u.only(mo)
	if a == nil || b == nil || mo == nil || !is(add, "Add") {
		return nil, nil
	}
	bt := typeOf(b)
	if bt.DType != tensor.Float32 || !bt.Known || len(bt.Shape) < 2 || !bt.Shape[len(bt.Shape)-1].IsFixed() {
		return nil, nil
	}
	n := bt.Shape[len(bt.Shape)-1].Size
	bias := f.fitBias(other(add, mo), n, mo.Type)
	if bias == nil {
		return nil, nil
	}
	nodes := []*Node{m, add}
	last := out0(add)
	attrs := map[string]*Attr{}
	if act := u.only(last); act != nil && foldActivation(act, attrs) {
		nodes, last = append(nodes, act), out0(act)
	}
	fused := &Node{
		Name:    m.Name,
		Op:      "FusedMatMul",
		Domain:  SextantDomain,
		Inputs:  []*Value{a, b, bias},
		Outputs: []*Value{last},
		Attrs:   attrs,
	}
	return &rewrite{remove: nodes, node: fused}, nil
}

// fitBias returns bias as a 1-D [n] value: itself when it already is, or a
// reshaped copy of a constant of n elements whose other dimensions are 1 and
// whose rank does not exceed the MatMul output's (so the Add does not
// broadcast the product to a higher rank). It returns nil when bias does not
// fit.
func (f *fuser) fitBias(bias *Value, n int64, out Type) *Value {
	if bias == nil {
		return nil
	}
	t := typeOf(bias)
	s, ok := t.Concrete()
	if !ok || t.DType != tensor.Float32 || len(s) == 0 || int64(s[len(s)-1]) != n || s.NumElements() != int(n) {
		return nil
	}
	if len(s) == 1 {
		return bias
	}
	c := ConstValue(bias)
	if c == nil || !out.Known || len(s) > len(out.Shape) {
		return nil
	}
	return f.constant(bias.Name+"_1d", &tensor.Tensor{DType: c.DType, Shape: tensor.Shape{int(n)}, Raw: c.Raw})
}

// gemmActivation matches Gemm + activation and rewrites it to FusedGemm with
// Gemm's inputs and attributes. Only float32 is fused.
func (f *fuser) gemmActivation(gm *Node, u *uses) (*rewrite, error) {
	if !is(gm, "Gemm") || len(gm.Outputs) != 1 {
		return nil, nil
	}
	a := gm.Input(0)
	if a == nil || typeOf(a).DType != tensor.Float32 {
		return nil, nil
	}
	act := u.only(out0(gm))
	attrs := maps.Clone(gm.Attrs)
	if attrs == nil {
		attrs = map[string]*Attr{}
	}
	if act == nil || !foldActivation(act, attrs) {
		return nil, nil
	}
	fused := &Node{
		Name:    gm.Name,
		Op:      "FusedGemm",
		Domain:  SextantDomain,
		Inputs:  append([]*Value(nil), gm.Inputs...),
		Outputs: []*Value{out0(act)},
		Attrs:   attrs,
	}
	return &rewrite{remove: []*Node{gm, act}, node: fused}, nil
}

// foldActivation records activation node act in attrs and reports whether
// it is one the fused ops apply.
func foldActivation(act *Node, attrs map[string]*Attr) bool {
	name, ok := activations[act.Op]
	if !ok || !is(act, act.Op) || len(act.Inputs) != 1 || len(act.Outputs) != 1 || out0(act) == nil {
		return false
	}
	switch act.Op {
	case "Gelu":
		switch act.Str("approximate", "none") {
		case "none":
			name = "Gelu"
		case "tanh":
			name = "GeluTanh"
		default:
			return false
		}
	case "LeakyRelu":
		attrs["activation_alpha"] = FloatAttr(act.Float("alpha", 0.01))
	}
	attrs["activation"] = StringAttr(name)
	return true
}
