package quant

import (
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Modes, as the manifest's Quantization.Mode and convert's --quantize name
// them.
const (
	ModeInt8        = "int8"
	ModeInt8Dynamic = "int8-dynamic"
	ModeFloat16     = "f16"
)

// ErrNothingToQuantize is returned (wrapped) by a pass that finds nothing
// to quantize: no MatMul or Gemm with a constant float32 weight (Dynamic,
// Calibrate, Static) or no large float32 initializer (Float16).
var ErrNothingToQuantize = errors.New("nothing to quantize")

// Dynamic rewrites g in place for dynamic int8 quantization: each MatMul,
// Gemm, FusedMatMul and FusedGemm with a float32 constant weight becomes a
// DynamicQuantMatMul over per-channel int8 weights (see the package doc).
// Other nodes, and products whose weight is not constant, stay float32. It
// returns the manifest record of the quantized tensors; a graph with nothing
// to quantize is an error, so a wrong model is not shipped as quantized.
func Dynamic(g *graph.Graph) (*bundle.Quantization, error) {
	ps := products(g)
	if len(ps) == 0 {
		return nil, fmt.Errorf("quant: %s: %w", ModeInt8Dynamic, ErrNothingToQuantize)
	}
	r := newRewriter(g, ModeInt8Dynamic)
	for _, p := range ps {
		r.replace(p, "DynamicQuantMatMul", p.a, nil)
	}
	return r.finish()
}

// MinFloat16Elements is the smallest float32 initializer Float16 converts:
// biases and scalars stay float32, where they cost little and matter most.
const MinFloat16Elements = 256

// Float16 rewrites g in place to store every float32 initializer of at least
// MinFloat16Elements elements as float16, widened back to float32 by a Cast
// node that takes over the initializer's name, so its consumers are
// unchanged.
//
// The trade-off: the bundle's weights take half the bytes (what a download
// and the device's storage budget pay for), while compute stays float32 —
// graph.Fold evaluates each Cast once when the model is compiled, so at run
// time the weights are float32 in memory (twice the mapped size, and no
// longer zero-copy from the bundle) and kernels are unchanged. A weight of
// more than graph.MaxFoldElements elements is not folded and is widened on
// every run instead. Rounding to float16 (11 significant bits, relative
// error ≤ 2^-11) changes outputs by about 1e-3 relative.
func Float16(g *graph.Graph) (*bundle.Quantization, error) {
	r := newRewriter(g, ModeFloat16)
	inits := g.Initializers[:0:0]
	var casts []*graph.Node
	for _, v := range g.Initializers {
		c := v.Const
		if c == nil || c.DType != tensor.Float32 || c.Len() < MinFloat16Elements {
			inits = append(inits, v)
			continue
		}
		h := tensor.New(tensor.Float16, c.Shape...)
		dst := tensor.Data[uint16](h)
		for i, x := range tensor.Data[float32](c) {
			dst[i] = uint16(tensor.Float16FromFloat32(x))
		}
		hv := &graph.Value{Name: r.name(v.Name + "_f16"), Type: graph.ShapeOf(tensor.Float16, h.Shape), Const: h}
		inits = append(inits, hv)
		cast := &graph.Node{Name: hv.Name + "_cast", Op: "Cast", Inputs: []*graph.Value{hv}, Outputs: []*graph.Value{v},
			Attrs: map[string]*graph.Attr{"to": graph.IntAttr(int64(tensor.Float32))}}
		v.Const, v.Layouts, v.Producer = nil, nil, cast
		casts = append(casts, cast)
		r.q.Tensors[hv.Name] = bundle.QuantParams{Scale: []float64{1}, DType: tensor.Float16.String()}
	}
	if len(casts) == 0 {
		return nil, fmt.Errorf("quant: %s: %w (no float32 initializer of %d or more elements)", ModeFloat16, ErrNothingToQuantize, MinFloat16Elements)
	}
	g.Initializers = inits
	g.Nodes = append(casts, g.Nodes...)
	return r.finish()
}
