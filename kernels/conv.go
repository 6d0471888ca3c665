package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm"
	"github.com/sextant-ml/sextant/tensor"
)

// convKernel is Conv over 1, 2 or 3 spatial axes (ONNX Operators.md
// Conv-11): X [N, C, …] ⋆ W [M, C/group, k…] (+ B [M]) with strides, pads,
// dilations, auto_pad and group. Each image and group is lowered to one
// matrix product: the input windows are unrolled into a [C/group·|k|,
// |out|] matrix in scratch (im2col), which W's [M/group, C/group·|k|] rows
// multiply. A 1×1 kernel with unit strides and no padding reads X directly.
type convKernel struct {
	node  *graph.Node
	group int
	// w1d is a constant float32 1-D W [M, C, K] packed as the
	// [K·C, M] matrix B[k·C + c][m] = W[m][c][k] (see conv1dRun); nil
	// otherwise.
	w1d *gemm.PackedB
}

func newConv(n *graph.Node, opset int) (Kernel, error) {
	g := int(n.Int("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("Conv: invalid group %d", g)
	}
	k := &convKernel{node: n, group: g}
	dil, _ := n.Ints("dilations")
	undilated := len(dil) == 0 || len(dil) == 1 && dil[0] == 1
	if w := n.Input(1); g == 1 && undilated && w != nil && w.Const != nil && w.Const.DType == tensor.Float32 && len(w.Const.Shape) == 3 {
		m, c, kw := w.Const.Shape[0], w.Const.Shape[1], w.Const.Shape[2]
		wd := tensor.Data[float32](w.Const)
		b := make([]float32, kw*c*m)
		for mi := 0; mi < m; mi++ {
			for ci := 0; ci < c; ci++ {
				for ki := 0; ki < kw; ki++ {
					b[(ki*c+ci)*m+mi] = wd[(mi*c+ci)*kw+ki]
				}
			}
		}
		k.w1d = gemm.Best().PackB(b, kw*c, m, false)
	}
	return k, nil
}

type convPlan struct {
	g             *window3
	n, c, m       int
	group         int
	cg, mg        int // channels per group in and out
	kdim          int // C/group · kernel volume
	inVol, outVol int
	direct        bool // 1×1, stride 1, no padding: X is the column matrix
	bias          bool
	colOff        int
	// simd: float32 products run on the SIMD GEMM ks, with its packing
	// scratch at gemmOff.
	simd    bool
	ks      gemm.Kernels
	gemmOff int
	// w1d (1-D, float32, group 1, no dilation, W constant): the
	// transposed formulation of conv1dRun, with X transposed and padded
	// at xtOff, its unrolled rows at rowsOff and Yᵀ at ytOff.
	w1d                   *gemm.PackedB
	xtOff, rowsOff, ytOff int
}

func (k *convKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x, w := in[0], in[1]
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) || w.DType != x.DType {
		return Step{}, fmt.Errorf("%w: Conv X %v, W %v", tensor.ErrShape, x, w)
	}
	kernel := make([]int, len(w.Shape)-2)
	copy(kernel, w.Shape[2:])
	if ks, ok := k.node.Ints("kernel_shape"); ok {
		for i := range kernel {
			if i >= len(ks) || int(ks[i]) != kernel[i] || len(ks) != len(kernel) {
				return Step{}, fmt.Errorf("%w: Conv kernel_shape %v vs W %v", tensor.ErrShape, ks, w.Shape)
			}
		}
	}
	win, err := graph.NewWindow(k.node, kernel)
	if err != nil {
		return Step{}, err
	}
	g, want, err := newWindow3(win, x.Shape)
	if err != nil {
		return Step{}, err
	}
	p := &convPlan{g: g, n: x.Shape[0], c: x.Shape[1], m: w.Shape[0], group: k.group}
	if p.c%k.group != 0 || p.m%k.group != 0 || w.Shape[1] != p.c/k.group {
		return Step{}, fmt.Errorf("%w: Conv X %v, W %v, group %d", tensor.ErrShape, x.Shape, w.Shape, k.group)
	}
	want[1] = p.m
	if err := checkOut(out, 0, want); err != nil {
		return Step{}, err
	}
	p.cg, p.mg = p.c/k.group, p.m/k.group
	kvol := g.k[0] * g.k[1] * g.k[2]
	p.kdim = p.cg * kvol
	p.inVol = g.in[0] * g.in[1] * g.in[2]
	p.outVol = g.out[0] * g.out[1] * g.out[2]
	p.direct = kvol == 1 && g.s == [3]int{1, 1, 1} && g.pb == [3]int{} && g.pe == [3]int{}
	if b := inputAt(in, 2); b != nil {
		if len(b.Shape) != 1 || b.Shape[0] != p.m || b.DType != x.DType {
			return Step{}, fmt.Errorf("%w: Conv bias %v for %d output channels", tensor.ErrShape, b, p.m)
		}
		p.bias = true
	}
	var sl scratchLayout
	if k.w1d != nil && x.DType == tensor.Float32 && len(x.Shape) == 3 && g.d[2] == 1 && !p.direct &&
		w.Shape[0] == p.m && w.Shape[1] == p.c && w.Shape[2] == g.k[2] {
		p.w1d = k.w1d
		p.xtOff = sl.take(4 * (g.pb[2] + g.in[2] + g.pe[2]) * p.c)
		p.rowsOff = sl.take(4 * p.outVol * p.kdim)
		p.ytOff = sl.take(4 * p.outVol * p.m)
		return Step{Scratch: sl.size, Run: func(in, out []*tensor.Tensor, s []byte) error { conv1dRun(p, in, out, s); return nil }}, nil
	}
	if !p.direct {
		p.colOff = sl.take(p.kdim * p.outVol * x.DType.Size())
	}
	if x.DType == tensor.Float32 {
		// The SIMD GEMM packs the column matrix through scratch of its own.
		p.gemmOff = sl.take(4 * gemm.ScratchSize(p.mg, p.kdim, p.outVol))
		p.ks, p.simd = gemm.Best(), true
	}
	step := Step{Scratch: sl.size}
	switch x.DType {
	case tensor.Float32:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { convRun[float32](p, in, out, s); return nil }
	case tensor.Float64:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { convRun[float64](p, in, out, s); return nil }
	default:
		return Step{}, unsupportedDType("Conv", x.DType)
	}
	return step, nil
}

func convRun[T floatElem](p *convPlan, in, out []*tensor.Tensor, scratch []byte) {
	x, w, y := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	var col []T
	if !p.direct {
		col = section[T](scratch, p.colOff, p.kdim*p.outVol)
	}
	for n := 0; n < p.n; n++ {
		for gi := 0; gi < p.group; gi++ {
			xg := x[(n*p.c+gi*p.cg)*p.inVol:][:p.cg*p.inVol]
			src := xg
			if !p.direct {
				im2col(p.g, p.cg, xg, col)
				src = col
			}
			yg := y[(n*p.m+gi*p.mg)*p.outVol:][:p.mg*p.outVol]
			wg := w[gi*p.mg*p.kdim:]
			if p.simd {
				gs := section[float32](scratch, p.gemmOff, gemm.ScratchSize(p.mg, p.kdim, p.outVol))
				p.ks.Gemm(asFloat32(yg), asFloat32(wg), asFloat32(src), p.mg, p.kdim, p.outVol, p.kdim, p.outVol, p.outVol, false, false, nil, gemm.None, 0, gs)
				continue
			}
			gemmGo(false, false, p.mg, p.outVol, p.kdim, 1, wg, p.kdim, src, p.outVol, 0, yg, p.outVol)
		}
		if p.bias {
			b := tensor.Data[T](in[2])
			for m := 0; m < p.m; m++ {
				row := y[(n*p.m+m)*p.outVol:][:p.outVol]
				bv := b[m]
				for i := range row {
					row[i] += bv
				}
			}
		}
	}
}

// im2col unrolls the windows of channels planes of x into col, one row per
// (channel, kd, kh, kw) and one column per output position; positions in
// the padding read 0.
func im2col[T floatElem](g *window3, channels int, x, col []T) {
	outVol := g.out[0] * g.out[1] * g.out[2]
	inVol := g.in[0] * g.in[1] * g.in[2]
	r := 0
	for c := 0; c < channels; c++ {
		xc := x[c*inVol : (c+1)*inVol]
		for kd := 0; kd < g.k[0]; kd++ {
			for kh := 0; kh < g.k[1]; kh++ {
				for kw := 0; kw < g.k[2]; kw++ {
					dst := col[r*outVol : (r+1)*outVol]
					r++
					o := 0
					for od := 0; od < g.out[0]; od++ {
						id := od*g.s[0] - g.pb[0] + kd*g.d[0]
						for oh := 0; oh < g.out[1]; oh++ {
							ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
							row := dst[o : o+g.out[2]]
							o += g.out[2]
							if id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] {
								clear(row)
								continue
							}
							src := xc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
							w0 := kw*g.d[2] - g.pb[2]
							for ow := range row {
								if iw := ow*g.s[2] + w0; iw >= 0 && iw < len(src) {
									row[ow] = src[iw]
								} else {
									row[ow] = 0
								}
							}
						}
					}
				}
			}
		}
	}
}

// conv1dRun is 1-D float32 Conv with W constant (group 1, no dilation),
// computed transposed so that the constant W is the packed operand:
// Yᵀ[T, M] = R[T, K·C] · B[K·C, M] + bias, where Xᵀ is X transposed to
// [L, C] between zero rows for the padding, and row t of R is the K·C
// contiguous floats of Xᵀ from row t·stride (one copy: no im2col index
// arithmetic, and nothing to pack per call). Yᵀ is transposed into Y.
func conv1dRun(p *convPlan, in, out []*tensor.Tensor, scratch []byte) {
	g := p.g
	c, m, l, t, s := p.c, p.m, g.in[2], g.out[2], g.s[2]
	rows := g.pb[2] + l + g.pe[2]
	x, y := tensor.Data[float32](in[0]), tensor.Data[float32](out[0])
	var bias []float32
	if p.bias {
		bias = tensor.Data[float32](in[2])
	}
	xt := section[float32](scratch, p.xtOff, rows*c)
	r := section[float32](scratch, p.rowsOff, t*p.kdim)
	yt := section[float32](scratch, p.ytOff, t*m)
	clear(xt[:g.pb[2]*c])
	clear(xt[(g.pb[2]+l)*c:])
	for n := 0; n < p.n; n++ {
		xn := x[n*c*l : (n+1)*c*l]
		transpose32(xt[g.pb[2]*c:(g.pb[2]+l)*c], xn, c, l)
		for ti := 0; ti < t; ti++ {
			copy(r[ti*p.kdim:(ti+1)*p.kdim], xt[ti*s*c:])
		}
		p.w1d.MatMul(yt, r, t, p.kdim, m, bias, gemm.None, 0)
		transpose32(y[n*m*t:(n+1)*m*t], yt, t, m)
	}
}

// transpose32 sets dst (cols×rows) to the transpose of src (rows×cols),
// four source rows at a time so that each destination write is four
// contiguous floats.
func transpose32(dst, src []float32, rows, cols int) {
	i := 0
	for ; i+4 <= rows; i += 4 {
		s0 := src[i*cols : (i+1)*cols]
		s1 := src[(i+1)*cols : (i+2)*cols]
		s2 := src[(i+2)*cols : (i+3)*cols]
		s3 := src[(i+3)*cols : (i+4)*cols]
		s1, s2, s3 = s1[:len(s0)], s2[:len(s0)], s3[:len(s0)]
		for j, v := range s0 {
			d := dst[j*rows+i : j*rows+i+4 : j*rows+i+4]
			d[0], d[1], d[2], d[3] = v, s1[j], s2[j], s3[j]
		}
	}
	for ; i < rows; i++ {
		for j, v := range src[i*cols : (i+1)*cols] {
			dst[j*rows+i] = v
		}
	}
}
