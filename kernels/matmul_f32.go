package kernels

import (
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm"
	"github.com/sextant-ml/sextant/tensor"
)

// The float32 MatMul, FusedMatMul, Gemm and FusedGemm paths run on the
// SIMD kernels of package gemm: constant weights are packed into panels once,
// when the kernel is built, and products with two activations pack through
// the step's scratch. Relu and LeakyRelu are fused into the GEMM epilogue;
// other activations run over the output afterwards, Sigmoid, Tanh and the
// GELUs on the vector kernels (applyAct32).
//
// The kernel set is gemm.Best(), a pure function of the CPU; the purego build
// tag forces the portable set. gemm's own suite checks every set.

// gemmAct maps a fused activation to the GEMM epilogue, reporting false when
// it must run as a separate pass.
func gemmAct(a activation) (gemm.Activation, float32, bool) {
	switch a.kind {
	case actNone:
		return gemm.None, 0, true
	case actRelu:
		return gemm.Relu, 0, true
	case actLeakyRelu:
		return gemm.LeakyRelu, float32(a.alpha), true
	}
	return gemm.None, 0, false
}

// PanelLayout returns the bundle layout name of a constant weight w packed
// into GEMM panels for products A·w (transposed false) or A·wᵀ (true).
// convert stores weights under these names; kernels look them up.
func PanelLayout(transposed bool) string {
	if transposed {
		return gemm.LayoutPanel16 + "-t"
	}
	return gemm.LayoutPanel16
}

// PackWeight packs a float32 2-D weight into GEMM panels for A·w (or A·wᵀ),
// as convert stores it; nil when w is not such a tensor.
func PackWeight(w *tensor.Tensor, transposed bool) *tensor.Tensor {
	p := packConstB(w, transposed, 1)
	if p == nil {
		return nil
	}
	return &tensor.Tensor{DType: tensor.Float32, Shape: w.Shape.Clone(), Raw: tensor.Bytes(p.Data())}
}

// packConstB packs a constant float32 2-D weight for products A·B (or A·Bᵀ
// when transposed), scaled by scale; nil when b is not such a weight.
func packConstB(b *tensor.Tensor, transposed bool, scale float32) *gemm.PackedB {
	if b == nil || b.DType != tensor.Float32 || len(b.Shape) != 2 || b.Len() == 0 {
		return nil
	}
	k, n := b.Shape[0], b.Shape[1]
	if transposed {
		k, n = n, k
	}
	data := tensor.Data[float32](b)
	if scale != 1 {
		scaled := make([]float32, len(data))
		for i, v := range data {
			scaled[i] = v * scale
		}
		data = scaled
	}
	return gemm.Best().PackB(data, k, n, transposed)
}

// weightPanels returns the GEMM panels of constant weight v for A·v (or
// A·vᵀ), scaled by scale: the bundle's stored panels, used in place, when v
// carries them and scale is 1; else a fresh packing. repacked reports the
// second case for a weight a bundle could have carried.
func weightPanels(v *graph.Value, transposed bool, scale float32) (p *gemm.PackedB, repacked bool) {
	if v == nil || v.Const == nil {
		return nil, false
	}
	b := v.Const
	if t, ok := v.Layouts[PanelLayout(transposed)]; ok && scale == 1 && b.DType == tensor.Float32 && len(b.Shape) == 2 {
		k, n := b.Shape[0], b.Shape[1]
		if transposed {
			k, n = n, k
		}
		if len(t.Raw)%4 == 0 {
			if pk, err := gemm.Best().FromPacked(tensor.Cast[float32](t.Raw), k, n, gemm.LayoutPanel16); err == nil {
				return pk, false
			}
		}
	}
	p = packConstB(b, transposed, scale)
	return p, p != nil
}

// Repacker is implemented by kernels that may pack constant weights when
// they are built; Repacked reports that they did so because the graph
// carried no stored layout for them.
type Repacker interface {
	Repacked() bool
}

// matMulF32 prepares the float32 MatMul/FusedMatMul step.
func (km *matMulKernel) matMulF32(p *matMulPlan) Step {
	act, alpha, fused := gemmAct(p.act)
	if !fused {
		act = gemm.None
	}
	post := p.act
	if fused {
		post = activation{kind: actNone}
	}
	if pk := km.packed; pk != nil && len(p.offB) == 1 && p.offB[0] == 0 && pk.K() == p.k && pk.N() == p.n {
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			a, c := tensor.Data[float32](in[0]), tensor.Data[float32](out[0])
			var bias []float32
			if p.bias {
				bias = tensor.Data[float32](in[2])[:p.n]
			}
			for i, off := range p.offA {
				pk.MatMul(c[i*p.outStride:], a[off:], p.m, p.k, p.n, bias, act, alpha)
			}
			applyAct32(post, c[:len(p.offA)*p.outStride])
			return nil
		}}
	}
	ks := gemm.Best().WithPool(km.pool)
	return Step{Scratch: 4 * gemm.ScratchSize(p.m, p.k, p.n), Run: func(in, out []*tensor.Tensor, scratch []byte) error {
		a, b, c := tensor.Data[float32](in[0]), tensor.Data[float32](in[1]), tensor.Data[float32](out[0])
		var bias []float32
		if p.bias {
			bias = tensor.Data[float32](in[2])[:p.n]
		}
		s := tensor.Cast[float32](scratch)
		for i := range p.offA {
			ks.Gemm(c[i*p.outStride:], a[p.offA[i]:], b[p.offB[i]:], p.m, p.k, p.n, p.k, p.ldb, p.n, false, false, bias, act, alpha, s)
		}
		applyAct32(post, c[:len(p.offA)*p.outStride])
		return nil
	}}
}

// gemmF32 prepares the float32 Gemm/FusedGemm step: Y = act(α·A'·B' + β·C).
// A constant B was packed with α folded in; otherwise α scales the product
// after it is computed.
func (kg *gemmKernel) gemmF32(p *gemmPlan) Step {
	act, lalpha, fusable := gemmAct(p.act)
	packed := kg.packed
	if packed != nil && (p.transA || packed.K() != p.k || packed.N() != p.n) {
		packed = nil
	}
	alphaDone := packed != nil || p.alpha == 1
	// The epilogue can take C when it is a row broadcast over M (shape [N]
	// or [1,N]) and nothing has to happen between the product and C.
	rowC := p.hasC && p.cRow == 0 && p.cCol == 1
	fuseAll := fusable && alphaDone && (!p.hasC || rowC)
	scratch := 0
	if packed == nil {
		scratch = gemm.ScratchSize(p.m, p.k, p.n)
	}
	biasOff := scratch
	if fuseAll && rowC && p.beta != 1 {
		scratch += p.n
	}
	ks := gemm.Best().WithPool(kg.pool)
	m, n, k := p.m, p.n, p.k
	return Step{Scratch: 4 * scratch, Run: func(in, out []*tensor.Tensor, sc []byte) error {
		a, y := tensor.Data[float32](in[0]), tensor.Data[float32](out[0])[:m*n]
		s := tensor.Cast[float32](sc)
		var bias []float32
		epAct, epAlpha := gemm.None, float32(0)
		if fuseAll {
			epAct, epAlpha = act, lalpha
			if rowC {
				bias = tensor.Data[float32](in[2])[:n]
				if p.beta != 1 {
					scaled := s[biasOff : biasOff+n]
					for j, v := range bias {
						scaled[j] = v * float32(p.beta)
					}
					bias = scaled
				}
			}
		}
		if packed != nil {
			packed.MatMul(y, a, m, p.lda, n, bias, epAct, epAlpha)
		} else {
			b := tensor.Data[float32](in[1])
			ks.Gemm(y, a, b, m, k, n, p.lda, p.ldb, n, p.transA, p.transB, bias, epAct, epAlpha, s)
		}
		if fuseAll {
			return nil
		}
		if !alphaDone {
			al := float32(p.alpha)
			for i := range y {
				y[i] *= al
			}
		}
		if p.hasC {
			c, bt := tensor.Data[float32](in[2]), float32(p.beta)
			for i := 0; i < m; i++ {
				row := y[i*n : (i+1)*n]
				off := i * p.cRow
				if p.cCol == 0 {
					v := bt * c[off]
					for j := range row {
						row[j] += v
					}
					continue
				}
				for j, v := range c[off : off+n] {
					row[j] += bt * v
				}
			}
		}
		applyAct32(p.act, y)
		return nil
	}}
}
