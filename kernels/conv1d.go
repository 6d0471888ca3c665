package kernels

import (
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm"
	"github.com/sextant-ml/sextant/tensor"
)

// The float32 1-D convolution (group 1, any stride, dilation and padding)
// as one GEMM per image with nothing transposed:
//
//	Y[M, T] = W[M, C·K] · R[C·K, T]  (+ bias, activation)
//
// W is the GEMM's A operand read in place (its [M, C, K] memory is already
// the row-major [M, C·K] matrix), and the unrolled input R (row c·K + k,
// column t holds X[c, t·stride + k·dilation − pad]) is written by
// conv1dPanels straight into the packed panel layout the GEMM kernels read
// (gemm.LayoutPanel16), so the input is copied once and nothing is
// transposed. With stride 1 every 16 columns of a row are 16 contiguous
// floats of X. When W and the bias are constants the bias is folded into the
// product as one more column of A (conv1dKernelA) against a row of ones in R,
// and Relu or LeakyRelu (FusedConv) runs in the GEMM's epilogue: the whole
// layer is one kernel call over panels built from X.

// conv1dPlan is the 1-D path specialized to shapes.
type conv1dPlan struct {
	n, c, m, l, t    int
	kw, s, d, pb, pe int
	kdim             int       // rows of R: C·K, plus one with the bias row
	a                []float32 // [M, kdim] constant W with the bias column; nil: W is in[1]
	biasAfter        bool      // bias input added after the product
	act              gemm.Activation
	alpha            float32
	post             activation // applied after the product (and bias)
	padOff, panelOff int        // scratch: padded X [C, pb+L+pe], panels of one column block
	ks               gemm.Kernels
}

// Conv1dLayout is the bundle layout name of a 1-D Conv weight W [M, C, K]
// stored as the 1-D path's A operand: [M, C·K + 1] float32, each row W's
// row followed by the output channel's bias (0 without one). convert stores
// it under W's name; the kernel uses it in place when its bias column
// matches the node's bias.
const Conv1dLayout = "f32-conv1d-wbias"

// Conv1dWeight returns the A operand of 1-D Conv (or FusedConv) node n as
// convert stores it (Conv1dLayout), or nil when n has no constant float32
// 1-D W, a bias that is not a constant, or groups.
func Conv1dWeight(n *graph.Node) *tensor.Tensor {
	if int(n.Int("group", 1)) != 1 {
		return nil
	}
	a := conv1dBuildA(n)
	if a == nil {
		return nil
	}
	return &tensor.Tensor{DType: tensor.Float32, Shape: n.Input(1).Const.Shape.Clone(), Raw: tensor.Bytes(a)}
}

// conv1dBuildA builds the A operand of n (see Conv1dLayout), or returns nil
// when W or the bias is not a float32 constant of rank 3 and 1.
func conv1dBuildA(n *graph.Node) []float32 {
	w, bias, ok := conv1dConsts(n)
	if !ok {
		return nil
	}
	m, ck := w.Shape[0], w.Shape[1]*w.Shape[2]
	wd := tensor.Data[float32](w)
	a := make([]float32, m*(ck+1))
	for i := 0; i < m; i++ {
		copy(a[i*(ck+1):], wd[i*ck:(i+1)*ck])
		if bias != nil {
			a[i*(ck+1)+ck] = bias[i]
		}
	}
	return a
}

// conv1dConsts returns n's constant float32 W [M, C, K] and bias (nil when
// absent); ok is false unless both are such constants.
func conv1dConsts(n *graph.Node) (w *tensor.Tensor, bias []float32, ok bool) {
	wv := n.Input(1)
	if wv == nil || wv.Const == nil || wv.Const.DType != tensor.Float32 || len(wv.Const.Shape) != 3 {
		return nil, nil, false
	}
	w = wv.Const
	if b := n.Input(2); b != nil {
		if b.Const == nil || b.Const.DType != tensor.Float32 || b.Const.Len() != w.Shape[0] {
			return nil, nil, false
		}
		bias = tensor.Data[float32](b.Const)
	}
	return w, bias, true
}

// conv1dKernelA returns the constant A operand of the 1-D path: W's stored
// Conv1dLayout, used in place, when it is there and its bias column is the
// node's bias; else a fresh one (repacked true). It returns nil when W or
// the bias is not a float32 constant.
func conv1dKernelA(n *graph.Node) (a []float32, repacked bool) {
	w, bias, ok := conv1dConsts(n)
	if !ok {
		return nil, false
	}
	m, ck := w.Shape[0], w.Shape[1]*w.Shape[2]
	if t, ok := n.Input(1).Layouts[Conv1dLayout]; ok && len(t.Raw) == 4*m*(ck+1) {
		stored := tensor.Cast[float32](t.Raw)
		same := true
		for i := 0; i < m && same; i++ {
			want := float32(0)
			if bias != nil {
				want = bias[i]
			}
			same = stored[i*(ck+1)+ck] == want
		}
		if same {
			return stored, false
		}
	}
	return conv1dBuildA(n), true
}

// prepareConv1d returns the 1-D step, or ok false when the shapes are not
// for it (the caller checked the geometry and the bias).
func (k *convKernel) prepareConv1d(p *convPlan, x, w *tensor.Tensor, hasBias bool) (Step, bool) {
	g := p.g
	if x.DType != tensor.Float32 || len(x.Shape) != 3 || k.group != 1 {
		return Step{}, false
	}
	q := &conv1dPlan{
		n: p.n, c: p.c, m: p.m, l: g.in[2], t: g.out[2],
		kw: g.k[2], s: g.s[2], d: g.d[2], pb: g.pb[2], pe: g.pe[2],
		ks: gemm.Best().WithPool(k.pool),
	}
	ck := q.c * q.kw
	q.kdim = ck
	if k.a1d != nil && len(k.a1d) == q.m*(ck+1) && w.Shape[0] == q.m {
		q.a, q.kdim = k.a1d, ck+1
	} else {
		q.biasAfter = hasBias
	}
	q.post = k.act
	if act, alpha, ok := gemmAct(k.act); ok && !q.biasAfter {
		q.act, q.alpha, q.post = act, alpha, activation{kind: actNone}
	}
	var sl scratchLayout
	if q.pb > 0 || q.pe > 0 {
		q.padOff = sl.take(4 * q.c * (q.pb + q.l + q.pe))
	}
	q.panelOff = sl.take(4 * gemm.PackedLen(q.kdim, min(q.t, conv1dBlock)))
	return Step{Scratch: sl.size, Run: func(in, out []*tensor.Tensor, s []byte) error {
		conv1dRun(q, in, out, s)
		return nil
	}}, true
}

func conv1dRun(q *conv1dPlan, in, out []*tensor.Tensor, scratch []byte) {
	x, y := tensor.Data[float32](in[0]), tensor.Data[float32](out[0])
	a := q.a
	if a == nil {
		a = tensor.Data[float32](in[1])
	}
	panels := section[float32](scratch, q.panelOff, gemm.PackedLen(q.kdim, min(q.t, conv1dBlock)))
	lp := q.pb + q.l + q.pe
	for n := 0; n < q.n; n++ {
		xn := x[n*q.c*q.l : (n+1)*q.c*q.l]
		src, ld := xn, q.l
		if lp != q.l {
			xp := section[float32](scratch, q.padOff, q.c*lp)
			for c := 0; c < q.c; c++ {
				row := xp[c*lp : (c+1)*lp]
				clear(row[:q.pb])
				copy(row[q.pb:q.pb+q.l], xn[c*q.l:])
				clear(row[q.pb+q.l:])
			}
			src, ld = xp, lp
		}
		yn := y[n*q.m*q.t : (n+1)*q.m*q.t]
		for j0 := 0; j0 < q.t; j0 += conv1dBlock {
			cols := min(conv1dBlock, q.t-j0)
			conv1dPanels(q, panels, src, ld, j0, cols)
			q.ks.MatMulPanels(yn[j0:], a, panels, q.m, q.kdim, cols, q.kdim, q.t, nil, q.act, q.alpha)
		}
		if q.biasAfter {
			b := tensor.Data[float32](in[2])
			for m := 0; m < q.m; m++ {
				row, bv := yn[m*q.t:(m+1)*q.t], b[m]
				for i := range row {
					row[i] += bv
				}
			}
		}
		applyAct32(q.post, yn)
	}
}

// conv1dBlock is the number of output columns whose panels are built and
// multiplied at a time: the 64 columns one AVX-512 tile spans, so that the
// panels are still in L1 when the GEMM reads them (for the bench conv net,
// 161 rows × 64 columns = 41 KiB) and scratch stays small.
const conv1dBlock = 64

// conv1dPanels writes columns col0…col0+cols−1 of R (see conv1dPlan) for
// one image into panels: panel p holds 16 columns, row r of it 16 floats of
// R's row r; columns past the last are zero. x is the (padded) input, ld
// floats per channel.
func conv1dPanels(q *conv1dPlan, panels, x []float32, ld, col0, cols int) {
	const pw = 16
	c, kw, st, d, kdim := q.c, q.kw, q.s, q.d, q.kdim
	span := (kw-1)*d + pw // the floats of one channel a full unit-stride panel reads
	for p0 := 0; p0 < cols; p0 += pw {
		panel := panels[p0*kdim : (p0+pw)*kdim]
		w := min(pw, cols-p0)
		j0 := col0 + p0
		r := 0
		if st == 1 && w == pw {
			for ci := 0; ci < c; ci++ {
				panelRows(panel[r*pw:(r+kw)*pw], x[ci*ld+j0:ci*ld+j0+span], kw, d)
				r += kw
			}
		} else {
			for ci := 0; ci < c; ci++ {
				xc := x[ci*ld : (ci+1)*ld]
				for k := 0; k < kw; k++ {
					row := panel[r*pw : (r+1)*pw]
					r++
					off := j0*st + k*d
					for j := range row[:w] {
						row[j] = xc[off+j*st]
					}
					clear(row[w:])
				}
			}
		}
		if r < kdim { // the bias row
			row := panel[r*pw : (r+1)*pw]
			for j := range row {
				row[j] = 0
				if j < w {
					row[j] = 1
				}
			}
		}
	}
}

// panelRows writes the kw unit-stride rows of one channel into dst: row k
// is the 16 floats of src from k·d. It is its own function so that its few
// variables stay in registers.
func panelRows(dst, src []float32, kw, d int) {
	for k := 0; k < kw; k++ {
		copy16((*[16]float32)(dst[k*16:k*16+16]), (*[16]float32)(src[k*d:k*d+16]))
	}
}

// copy16 copies 16 floats as four 16-byte moves (a 64-byte array
// assignment or copy would call memmove).
func copy16(dst, src *[16]float32) {
	*(*[4]float32)(dst[0:4]) = *(*[4]float32)(src[0:4])
	*(*[4]float32)(dst[4:8]) = *(*[4]float32)(src[4:8])
	*(*[4]float32)(dst[8:12]) = *(*[4]float32)(src[8:12])
	*(*[4]float32)(dst[12:16]) = *(*[4]float32)(src[12:16])
}
