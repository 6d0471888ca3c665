package quant

import (
	"fmt"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// FoldQDQ rewrites the QDQ form of static quantization that quantizers such
// as ONNX Runtime's emit — a product whose A is
// DequantizeLinear(QuantizeLinear(x, s, z), s, z) and whose B is
// DequantizeLinear(W, sw) of a constant int8 W with zero point 0 — into one
// QuantMatMul on x, so the int8 kernel runs instead of a float product of
// dequantized tensors. W's scale may be per tensor or per output column
// (axis N of B). Products that do not match are left alone (they still run,
// through the QuantizeLinear and DequantizeLinear kernels). It returns the
// manifest record (mode "int8") and the number of products folded; with
// none folded the record is nil.
func FoldQDQ(g *graph.Graph) (*bundle.Quantization, int, error) {
	r := newRewriter(g, ModeInt8)
	folded := 0
	for _, n := range g.Nodes {
		switch n.Op {
		case "MatMul", "FusedMatMul", "Gemm", "FusedGemm":
		default:
			continue
		}
		x, ap, adt, ok := qdqActivation(n.Input(0))
		if !ok {
			continue
		}
		p := qdqProduct(n)
		if p == nil {
			continue
		}
		p.a = x
		r.replace(p, "QuantMatMul", x, map[string]*graph.Attr{
			"a_scale":      graph.FloatAttr(ap.scale),
			"a_zero_point": graph.IntAttr(int64(ap.zero)),
			"a_type":       graph.IntAttr(int64(adt)),
		})
		folded++
	}
	if folded == 0 {
		return nil, 0, nil
	}
	q, err := r.finish()
	return q, folded, err
}

// constScalar returns a value's constant single element as float64.
func constScalar(v *graph.Value) (float64, tensor.DType, bool) {
	if v == nil {
		return 0, 0, false
	}
	c := graph.ConstValue(v)
	if c == nil || c.Len() != 1 {
		return 0, 0, false
	}
	return c.Float64At(0), c.DType, true
}

// qdqActivation matches a = DequantizeLinear(QuantizeLinear(x, s, z), s, z)
// with scalar constant parameters and returns x and them.
func qdqActivation(a *graph.Value) (*graph.Value, actParams, tensor.DType, bool) {
	var none actParams
	dq := producer(a, "DequantizeLinear")
	if dq == nil {
		return nil, none, 0, false
	}
	q := producer(dq.Input(0), "QuantizeLinear")
	if q == nil || q.Input(0) == nil || q.Input(0).Type.DType != tensor.Float32 {
		return nil, none, 0, false
	}
	s1, _, ok1 := constScalar(q.Input(1))
	s2, _, ok2 := constScalar(dq.Input(1))
	z1, dt1, ok3 := constScalar(q.Input(2))
	z2, dt2, ok4 := constScalar(dq.Input(2))
	if q.Input(2) == nil && dq.Input(2) == nil {
		// No zero points: uint8 with zero point 0.
		z1, z2, dt1, dt2, ok3, ok4 = 0, 0, tensor.Uint8, tensor.Uint8, true, true
	}
	if !ok1 || !ok2 || !ok3 || !ok4 || s1 != s2 || z1 != z2 || dt1 != dt2 || s1 <= 0 {
		return nil, none, 0, false
	}
	if dt1 != tensor.Uint8 && dt1 != tensor.Int8 {
		return nil, none, 0, false
	}
	return q.Input(0), actParams{scale: float32(s1), zero: int32(z1)}, dt1, true
}

// producer returns v's producer when it is op.
func producer(v *graph.Value, op string) *graph.Node {
	if v == nil || v.Producer == nil || v.Producer.Op != op {
		return nil
	}
	return v.Producer
}

// qdqProduct matches n's B = DequantizeLinear(W int8, scale, 0) and returns
// the product with W as its int8 weight, or nil.
func qdqProduct(n *graph.Node) *product {
	dq := producer(n.Input(1), "DequantizeLinear")
	if dq == nil {
		return nil
	}
	w, s := graph.ConstValue(dq.Input(0)), graph.ConstValue(dq.Input(1))
	if w == nil || s == nil || w.DType != tensor.Int8 || len(w.Shape) != 2 || s.DType != tensor.Float32 {
		return nil
	}
	if z := dq.Input(2); z != nil {
		zc := graph.ConstValue(z)
		if zc == nil {
			return nil
		}
		for _, b := range zc.Raw {
			if b != 0 {
				return nil
			}
		}
	}
	// B's column axis: 1 for [K, N], 0 for a Gemm with transB ([N, K]).
	colAxis := 1
	if (n.Op == "Gemm" || n.Op == "FusedGemm") && n.Int("transB", 0) != 0 {
		colAxis = 0
	}
	perTensor := s.Len() == 1
	axis := int(dq.Int("axis", 1))
	if axis < 0 {
		axis += 2
	}
	if !perTensor && (axis != colAxis || s.Len() != w.Shape[colAxis]) {
		return nil
	}
	// W as int8 [K, N] and its per-column scales (alpha folded in), used
	// as they are; the float copy lets the usual matching find the bias
	// and activation.
	kk, nn := w.Shape[0], w.Shape[1]
	if colAxis == 0 {
		kk, nn = nn, kk
	}
	qw, qs := tensor.New(tensor.Int8, kk, nn), tensor.New(tensor.Float32, nn)
	f := tensor.New(tensor.Float32, w.Shape...)
	wd, sd, fd := tensor.Data[int8](w), tensor.Data[float32](s), tensor.Data[float32](f)
	qwd, qsd := tensor.Data[int8](qw), tensor.Data[float32](qs)
	alpha := float32(1)
	if n.Op == "Gemm" || n.Op == "FusedGemm" {
		alpha = n.Float("alpha", 1)
	}
	for j := range qsd {
		qsd[j] = alpha * sd[min(j, len(sd)-1)]
	}
	for i, v := range wd {
		r, c := i/w.Shape[1], i%w.Shape[1]
		if colAxis == 0 {
			r, c = c, r
		}
		qwd[r*nn+c] = v
		fd[i] = float32(v) * sd[min(c, len(sd)-1)]
	}
	probe := *n
	probe.Inputs = append([]*graph.Value(nil), n.Inputs...)
	probe.Inputs[1] = &graph.Value{Name: dq.Input(0).Name, Type: graph.ShapeOf(tensor.Float32, f.Shape), Const: f}
	var p *product
	switch n.Op {
	case "MatMul", "FusedMatMul":
		p = matMulProduct(&probe)
	default:
		p = gemmProduct(&probe)
	}
	if p == nil {
		return nil
	}
	p.node, p.w, p.qw, p.qs = n, probe.Inputs[1], qw, qs
	p.key = fmt.Sprintf("qdq/%s/%d/%g", dq.Input(0).Name, colAxis, alpha)
	return p
}
