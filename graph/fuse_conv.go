package graph

import (
	"maps"

	"github.com/sextant-ml/sextant/tensor"
)

// convActivation matches Conv + activation (one of those FusedGemm takes)
// where the activation is the Conv output's only reader, and rewrites it to
// FusedConv with Conv's inputs and attributes. Only float32 is fused (the
// kernel then runs Relu and LeakyRelu in its GEMM epilogue).
func (f *fuser) convActivation(cv *Node, u *uses) (*rewrite, error) {
	if !is(cv, "Conv") || len(cv.Outputs) != 1 {
		return nil, nil
	}
	x := cv.Input(0)
	if x == nil || typeOf(x).DType != tensor.Float32 {
		return nil, nil
	}
	act := u.only(out0(cv))
	attrs := maps.Clone(cv.Attrs)
	if attrs == nil {
		attrs = map[string]*Attr{}
	}
	if act == nil || !foldActivation(act, attrs) {
		return nil, nil
	}
	fused := &Node{
		Name:    cv.Name,
		Op:      "FusedConv",
		Domain:  SextantDomain,
		Inputs:  append([]*Value(nil), cv.Inputs...),
		Outputs: []*Value{out0(act)},
		Attrs:   attrs,
	}
	return &rewrite{remove: []*Node{cv, act}, node: fused}, nil
}
