package quant

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// product is a matrix product a pass can rewrite: Y = act(A·W + Bias) with
// W a float32 constant, normalized to [K, N] (Gemm's transB undone and its
// alpha folded in).
type product struct {
	node *graph.Node
	a    *graph.Value
	w    *graph.Value   // the original weight value
	wKN  *tensor.Tensor // float32 [K, N]
	key  string         // identifies wKN among products sharing a weight
	// bias is the [N] float32 bias value, nil when there is none.
	bias *graph.Value
	// biasConst is a bias that must become a new initializer (Gemm's C
	// reshaped or scaled by beta); nil otherwise.
	biasConst *tensor.Tensor
	attrs     map[string]*graph.Attr // activation, activation_alpha
	// qw and qs are weights that are already int8 [K, N] with per-column
	// scales [N] (an imported QDQ model); nil for float weights.
	qw, qs *tensor.Tensor
}

// products lists the nodes of g that quantization rewrites: MatMul and
// FusedMatMul with a 2-D float32 constant B, and Gemm and FusedGemm with a
// constant B, no transA and a C that is absent or a bias of N elements.
func products(g *graph.Graph) []*product {
	var out []*product
	for _, n := range g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" && n.Domain != graph.SextantDomain {
			continue
		}
		var p *product
		switch n.Op {
		case "MatMul", "FusedMatMul":
			p = matMulProduct(n)
		case "Gemm", "FusedGemm":
			p = gemmProduct(n)
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// weightOf returns a node input's constant float32 2-D value.
func weightOf(v *graph.Value) *tensor.Tensor {
	if v == nil {
		return nil
	}
	c := graph.ConstValue(v)
	if c == nil || c.DType != tensor.Float32 || len(c.Shape) != 2 {
		return nil
	}
	return c
}

// activationAttrs copies the fused activation attributes of n.
func activationAttrs(n *graph.Node) map[string]*graph.Attr {
	attrs := map[string]*graph.Attr{}
	for _, k := range []string{"activation", "activation_alpha"} {
		if a, ok := n.Attrs[k]; ok {
			attrs[k] = a
		}
	}
	return attrs
}

func matMulProduct(n *graph.Node) *product {
	a, w := n.Input(0), weightOf(n.Input(1))
	if a == nil || w == nil || a.Type.DType != tensor.Float32 || len(n.Outputs) != 1 {
		return nil
	}
	p := &product{node: n, a: a, w: n.Input(1), wKN: w, key: n.Input(1).Name, attrs: activationAttrs(n)}
	if b := n.Input(2); b != nil {
		p.bias = b
	}
	return p
}

func gemmProduct(n *graph.Node) *product {
	a, w := n.Input(0), weightOf(n.Input(1))
	if a == nil || w == nil || a.Type.DType != tensor.Float32 || n.Int("transA", 0) != 0 || len(n.Outputs) != 1 {
		return nil
	}
	alpha, beta := n.Float("alpha", 1), n.Float("beta", 1)
	transB := n.Int("transB", 0) != 0
	kk, nn := w.Shape[0], w.Shape[1]
	if transB {
		kk, nn = nn, kk
	}
	p := &product{node: n, a: a, w: n.Input(1), wKN: w, attrs: activationAttrs(n),
		key: fmt.Sprintf("%s/t%v/a%g", n.Input(1).Name, transB, alpha)}
	if transB || alpha != 1 {
		t := tensor.New(tensor.Float32, kk, nn)
		src, dst := tensor.Data[float32](w), tensor.Data[float32](t)
		for k := 0; k < kk; k++ {
			for j := 0; j < nn; j++ {
				if transB {
					dst[k*nn+j] = alpha * src[j*kk+k]
				} else {
					dst[k*nn+j] = alpha * src[k*nn+j]
				}
			}
		}
		p.wKN = t
	}
	c := n.Input(2)
	if c == nil || beta == 0 {
		return p
	}
	ct := c.Type
	s, ok := ct.Concrete()
	if !ok || ct.DType != tensor.Float32 || s.NumElements() != nn || (len(s) == 2 && s[0] != 1) || len(s) > 2 {
		return nil // C is a matrix (or unknown): not a bias
	}
	if len(s) == 1 && beta == 1 {
		p.bias = c
		return p
	}
	cv := graph.ConstValue(c)
	if cv == nil {
		return nil
	}
	b := tensor.New(tensor.Float32, nn)
	for j, v := range tensor.Data[float32](cv) {
		tensor.Data[float32](b)[j] = beta * v
	}
	p.biasConst = b
	return p
}

// perChannelInt8 quantizes w [K, N] per output column, symmetrically:
// scale_j = max_k |w[k][j]| / 127 and q = round(w / scale_j) in [−127, 127]
// (−128 unused, so negation is exact). An all-zero column gets scale 1.
func perChannelInt8(w *tensor.Tensor) (q, scales *tensor.Tensor) {
	kk, nn := w.Shape[0], w.Shape[1]
	src := tensor.Data[float32](w)
	q, scales = tensor.New(tensor.Int8, kk, nn), tensor.New(tensor.Float32, nn)
	s, d := tensor.Data[float32](scales), tensor.Data[int8](q)
	for j := 0; j < nn; j++ {
		amax := float32(0)
		for k := 0; k < kk; k++ {
			amax = max(amax, float32(math.Abs(float64(src[k*nn+j]))))
		}
		s[j] = amax / 127
		if amax == 0 || math.IsInf(float64(amax), 0) || math.IsNaN(float64(amax)) {
			s[j] = 1
		}
	}
	for i, v := range src {
		r := math.RoundToEven(float64(v / s[i%nn]))
		d[i] = int8(min(max(r, -127), 127))
	}
	return q, scales
}

// rewriter adds initializers under unique names and records quantized
// tensors for the manifest.
type rewriter struct {
	g       *graph.Graph
	names   map[string]bool
	weights map[string][2]*graph.Value // product key → int8 weight, scales
	q       *bundle.Quantization
}

func newRewriter(g *graph.Graph, mode string) *rewriter {
	r := &rewriter{g: g, names: map[string]bool{}, weights: map[string][2]*graph.Value{},
		q: &bundle.Quantization{Mode: mode, Tensors: map[string]bundle.QuantParams{}}}
	mark := func(v *graph.Value) {
		if v != nil {
			r.names[v.Name] = true
		}
	}
	for _, v := range g.Inputs {
		mark(v)
	}
	for _, v := range g.Initializers {
		mark(v)
	}
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			mark(v)
		}
	}
	return r
}

// name returns base, or base with a numeric suffix, not yet used.
func (r *rewriter) name(base string) string {
	name := base
	for i := 2; r.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	r.names[name] = true
	return name
}

// constant adds an initializer holding t.
func (r *rewriter) constant(base string, t *tensor.Tensor) *graph.Value {
	v := &graph.Value{Name: r.name(base), Type: graph.ShapeOf(t.DType, t.Shape), Const: t}
	r.g.Initializers = append(r.g.Initializers, v)
	return v
}

// int8Weights returns p's weight as int8 [K, N] and its per-column scales,
// quantizing it on first use.
func (r *rewriter) int8Weights(p *product) (w, scales *graph.Value) {
	if vs, ok := r.weights[p.key]; ok {
		return vs[0], vs[1]
	}
	qt, st := p.qw, p.qs
	if qt == nil {
		qt, st = perChannelInt8(p.wKN)
	}
	w, scales = r.constant(p.w.Name+"_int8", qt), r.constant(p.w.Name+"_scale", st)
	r.weights[p.key] = [2]*graph.Value{w, scales}
	axis := 1
	sc := make([]float64, st.Len())
	for i, v := range tensor.Data[float32](st) {
		sc[i] = float64(v)
	}
	r.q.Tensors[w.Name] = bundle.QuantParams{Scale: sc, Axis: &axis, DType: tensor.Int8.String()}
	return w, scales
}

// biasValue returns p's bias value, adding an initializer when needed.
func (r *rewriter) biasValue(p *product) *graph.Value {
	if p.biasConst != nil {
		return r.constant(p.node.Outputs[0].Name+"_bias", p.biasConst)
	}
	return p.bias
}

// replace turns p's node into op(A, W int8, scales[, bias]) in Sextant's
// domain with the activation attributes plus extra.
func (r *rewriter) replace(p *product, op string, a *graph.Value, extra map[string]*graph.Attr) {
	w, scales := r.int8Weights(p)
	ins := []*graph.Value{a, w, scales}
	if b := r.biasValue(p); b != nil {
		ins = append(ins, b)
	}
	attrs := p.attrs
	for k, v := range extra {
		attrs[k] = v
	}
	n := p.node
	n.Op, n.Domain, n.Inputs, n.Attrs = op, graph.SextantDomain, ins, attrs
}

// finish removes what the rewrite left unused and re-infers types.
func (r *rewriter) finish() (*bundle.Quantization, error) {
	graph.DCE(r.g)
	if err := graph.Infer(r.g, nil); err != nil {
		return nil, fmt.Errorf("quant: after rewriting: %w", err)
	}
	return r.q, nil
}
