package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm"
	"github.com/sextant-ml/sextant/kernels/parallel"
	"github.com/sextant-ml/sextant/tensor"
)

// convKernel is Conv over 1, 2 or 3 spatial axes (ONNX Operators.md
// Conv-11): X [N, C, …] ⋆ W [M, C/group, k…] (+ B [M]) with strides, pads,
// dilations, auto_pad and group. Each image and group is lowered to one
// matrix product: the input windows are unrolled into a [C/group·|k|,
// |out|] matrix in scratch (im2col), which W's [M/group, C/group·|k|] rows
// multiply. A 1×1 kernel with unit strides and no padding reads X directly.
// Float32 1-D convolutions with group 1 take the path of conv1d.go instead.
type convKernel struct {
	node  *graph.Node
	group int
	// act is FusedConv's activation (none for Conv).
	act activation
	// a1d is the A operand of the float32 1-D path (conv1d.go) when W and
	// the bias are constants; nil otherwise. repacked: it was built here,
	// not found in the bundle.
	a1d      []float32
	repacked bool
	pool     *parallel.Pool // see NewWith; nil for one thread
}

func (k *convKernel) setPool(p *parallel.Pool) { k.pool = p }

// newConv builds Conv and Sextant's FusedConv: Conv's inputs and
// attributes plus an activation applied to the result (bias included), in
// the attributes "activation" and "activation_alpha" of FusedMatMul and
// FusedGemm (graph.Fuse makes it from Conv followed by one of them).
func newConv(n *graph.Node, opset int) (Kernel, error) {
	g := int(n.Int("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("Conv: invalid group %d", g)
	}
	k := &convKernel{node: n, group: g}
	if n.Op == "FusedConv" {
		act, err := fusedActivation(n)
		if err != nil {
			return nil, err
		}
		k.act = act
	}
	if g == 1 {
		k.a1d, k.repacked = conv1dKernelA(n)
	}
	return k, nil
}

// Repacked reports whether building the kernel made the 1-D path's weight
// operand because the graph carried no stored Conv1dLayout for it.
func (k *convKernel) Repacked() bool { return k.repacked }

// convShape is a convolution's geometry, shared by Conv and the integer
// convolutions.
type convShape struct {
	g             *window3
	n, c, m       int
	group         int
	cg, mg        int // channels per group in and out
	kdim          int // C/group · kernel volume
	inVol, outVol int
}

// newConvShape checks X [N, C, …] and W [M, C/group, k…] against node's
// attributes (kernel_shape, pads, strides, dilations, auto_pad) and group,
// checks out[0] has the output shape, and returns the geometry. op names the
// operator in errors.
func newConvShape(node *graph.Node, op string, x, w *tensor.Tensor, group int, out []*tensor.Tensor) (convShape, error) {
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) {
		return convShape{}, fmt.Errorf("%w: %s X %v, W %v", tensor.ErrShape, op, x, w)
	}
	kernel := make([]int, len(w.Shape)-2)
	copy(kernel, w.Shape[2:])
	if ks, ok := node.Ints("kernel_shape"); ok {
		for i := range kernel {
			if i >= len(ks) || int(ks[i]) != kernel[i] || len(ks) != len(kernel) {
				return convShape{}, fmt.Errorf("%w: %s kernel_shape %v vs W %v", tensor.ErrShape, op, ks, w.Shape)
			}
		}
	}
	win, err := graph.NewWindow(node, kernel)
	if err != nil {
		return convShape{}, err
	}
	g, want, err := newWindow3(win, x.Shape)
	if err != nil {
		return convShape{}, err
	}
	c := convShape{g: g, n: x.Shape[0], c: x.Shape[1], m: w.Shape[0], group: group}
	if c.c%group != 0 || c.m%group != 0 || w.Shape[1] != c.c/group {
		return convShape{}, fmt.Errorf("%w: %s X %v, W %v, group %d", tensor.ErrShape, op, x.Shape, w.Shape, group)
	}
	want[1] = c.m
	if err := checkOut(out, 0, want); err != nil {
		return convShape{}, err
	}
	c.cg, c.mg = c.c/group, c.m/group
	c.kdim = c.cg * g.k[0] * g.k[1] * g.k[2]
	c.inVol = g.in[0] * g.in[1] * g.in[2]
	c.outVol = g.out[0] * g.out[1] * g.out[2]
	return c, nil
}

type convPlan struct {
	convShape
	direct bool // 1×1, stride 1, no padding: X is the column matrix
	bias   bool
	colOff int
	// simd: float32 products run on the SIMD GEMM ks, with its packing
	// scratch at gemmOff.
	simd    bool
	ks      gemm.Kernels
	gemmOff int
	act     activation // FusedConv's, after the bias
}

func (k *convKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x, w := in[0], in[1]
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) || w.DType != x.DType {
		return Step{}, fmt.Errorf("%w: Conv X %v, W %v", tensor.ErrShape, x, w)
	}
	shape, err := newConvShape(k.node, "Conv", x, w, k.group, out)
	if err != nil {
		return Step{}, err
	}
	p := &convPlan{convShape: shape}
	g := p.g
	kvol := g.k[0] * g.k[1] * g.k[2]
	p.direct = kvol == 1 && g.s == [3]int{1, 1, 1} && g.pb == [3]int{} && g.pe == [3]int{}
	if b := inputAt(in, 2); b != nil {
		if len(b.Shape) != 1 || b.Shape[0] != p.m || b.DType != x.DType {
			return Step{}, fmt.Errorf("%w: Conv bias %v for %d output channels", tensor.ErrShape, b, p.m)
		}
		p.bias = true
	}
	if step, ok := k.prepareConv1d(p, x, w, p.bias); ok {
		return step, nil
	}
	p.act = k.act
	var sl scratchLayout
	if !p.direct {
		p.colOff = sl.take(p.kdim * p.outVol * x.DType.Size())
	}
	if x.DType == tensor.Float32 {
		// The SIMD GEMM packs the column matrix through scratch of its own.
		p.gemmOff = sl.take(4 * gemm.ScratchSize(p.mg, p.kdim, p.outVol))
		p.ks, p.simd = gemm.Best().WithPool(k.pool), true
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
	if p.act.kind != actNone {
		applyAct(p.act, y[:p.n*p.m*p.outVol])
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
