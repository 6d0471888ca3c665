package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// convTransposeKernel is ConvTranspose over 1, 2 or 3 spatial axes (ONNX
// Operators.md ConvTranspose-11), the adjoint of Conv: X [N, C, …] with W
// [C, M/group, k…] gives Y [N, M, …], each input element scattering
// x·W[c, m, k] to output position i·s − pad + k·d. Each image and group is
// one matrix product Wᵀ·X into a [M/group·|k|, |in|] column matrix in
// scratch, then col2im adds the columns into Y (initialized with B).
type convTransposeKernel struct {
	node  *graph.Node
	group int
}

func newConvTranspose(n *graph.Node, opset int) (Kernel, error) {
	g := int(n.Int("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("ConvTranspose: invalid group %d", g)
	}
	return &convTransposeKernel{node: n, group: g}, nil
}

type convTransposePlan struct {
	g             window3 // in: X's spatial dims, out: Y's
	n, c, m       int
	group, cg, mg int
	rows          int // M/group · kernel volume
	inVol, outVol int
	bias          bool
	colOff        int
}

func (k *convTransposeKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x, w := in[0], in[1]
	r := len(x.Shape) - 2
	if r < 1 || r > 3 || len(w.Shape) != len(x.Shape) || w.DType != x.DType {
		return Step{}, fmt.Errorf("%w: ConvTranspose X %v, W %v", tensor.ErrShape, x, w)
	}
	kernel := make([]int, r)
	copy(kernel, w.Shape[2:])
	win, err := graph.NewWindow(k.node, kernel)
	if err != nil {
		return Step{}, err
	}
	p := &convTransposePlan{n: x.Shape[0], c: x.Shape[1], group: k.group}
	if w.Shape[0] != p.c || p.c%k.group != 0 {
		return Step{}, fmt.Errorf("%w: ConvTranspose X %v, W %v, group %d", tensor.ErrShape, x.Shape, w.Shape, k.group)
	}
	p.cg, p.mg = p.c/k.group, w.Shape[1]
	p.m = p.mg * k.group
	for i := range 3 {
		p.g.in[i], p.g.out[i], p.g.k[i], p.g.s[i], p.g.d[i] = 1, 1, 1, 1, 1
	}
	want := tensor.Shape{p.n, p.m}
	for i := 0; i < r; i++ {
		j := 3 - r + i
		o, pb, pe, err := graph.ConvTransposeDim(k.node, win, i, x.Shape[2+i])
		if err != nil {
			return Step{}, err
		}
		p.g.in[j], p.g.out[j], p.g.pb[j], p.g.pe[j] = x.Shape[2+i], o, pb, pe
		p.g.k[j], p.g.s[j], p.g.d[j] = kernel[i], win.Strides[i], win.Dilations[i]
		want = append(want, o)
	}
	if err := checkOut(out, 0, want); err != nil {
		return Step{}, err
	}
	kvol := p.g.k[0] * p.g.k[1] * p.g.k[2]
	p.rows = p.mg * kvol
	p.inVol = p.g.in[0] * p.g.in[1] * p.g.in[2]
	p.outVol = p.g.out[0] * p.g.out[1] * p.g.out[2]
	if b := inputAt(in, 2); b != nil {
		if len(b.Shape) != 1 || b.Shape[0] != p.m || b.DType != x.DType {
			return Step{}, fmt.Errorf("%w: ConvTranspose bias %v for %d output channels", tensor.ErrShape, b, p.m)
		}
		p.bias = true
	}
	var sl scratchLayout
	p.colOff = sl.take(p.rows * p.inVol * x.DType.Size())
	step := Step{Scratch: sl.size}
	switch x.DType {
	case tensor.Float32:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { convTransposeRun[float32](p, in, out, s); return nil }
	case tensor.Float64:
		step.Run = func(in, out []*tensor.Tensor, s []byte) error { convTransposeRun[float64](p, in, out, s); return nil }
	default:
		return Step{}, unsupportedDType("ConvTranspose", x.DType)
	}
	return step, nil
}

func convTransposeRun[T floatElem](p *convTransposePlan, in, out []*tensor.Tensor, scratch []byte) {
	x, w, y := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	col := section[T](scratch, p.colOff, p.rows*p.inVol)
	var b []T
	if p.bias {
		b = tensor.Data[T](in[2])
	}
	for n := 0; n < p.n; n++ {
		for m := 0; m < p.m; m++ {
			row := y[(n*p.m+m)*p.outVol:][:p.outVol]
			var v T
			if b != nil {
				v = b[m]
			}
			for i := range row {
				row[i] = v
			}
		}
		for gi := 0; gi < p.group; gi++ {
			xg := x[(n*p.c+gi*p.cg)*p.inVol:][:p.cg*p.inVol]
			wg := w[gi*p.cg*p.rows:][:p.cg*p.rows]
			// col [rows, inVol] = Wgᵀ [rows, cg] · Xg [cg, inVol].
			gemmGo(true, false, p.rows, p.inVol, p.cg, 1, wg, p.rows, xg, p.inVol, 0, col, p.inVol)
			col2im(&p.g, p.mg, col, y[(n*p.m+gi*p.mg)*p.outVol:][:p.mg*p.outVol])
		}
	}
}

// col2im adds each column-matrix row (channel, kd, kh, kw) into the output
// positions its input positions scatter to, skipping those in the padding.
func col2im[T floatElem](g *window3, channels int, col, y []T) {
	inVol := g.in[0] * g.in[1] * g.in[2]
	outVol := g.out[0] * g.out[1] * g.out[2]
	r := 0
	for c := 0; c < channels; c++ {
		yc := y[c*outVol : (c+1)*outVol]
		for kd := 0; kd < g.k[0]; kd++ {
			for kh := 0; kh < g.k[1]; kh++ {
				for kw := 0; kw < g.k[2]; kw++ {
					src := col[r*inVol : (r+1)*inVol]
					r++
					i := 0
					for id := 0; id < g.in[0]; id++ {
						od := id*g.s[0] - g.pb[0] + kd*g.d[0]
						for ih := 0; ih < g.in[1]; ih++ {
							oh := ih*g.s[1] - g.pb[1] + kh*g.d[1]
							line := src[i : i+g.in[2]]
							i += g.in[2]
							if od < 0 || od >= g.out[0] || oh < 0 || oh >= g.out[1] {
								continue
							}
							dst := yc[(od*g.out[1]+oh)*g.out[2]:][:g.out[2]]
							w0 := kw*g.d[2] - g.pb[2]
							for iw, v := range line {
								if ow := iw*g.s[2] + w0; ow >= 0 && ow < len(dst) {
									dst[ow] += v
								}
							}
						}
					}
				}
			}
		}
	}
}
