package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// intConvKernel is ConvInteger-10 (int32 output of (x − x_zero_point) ⋆
// (w − w_zero_point)) and QLinearConv-10 (the same plus an int32 bias B,
// rescaled by x_scale·w_scale/y_scale and requantized). It is the import
// path for already-quantized models, not a fast one: the operands are
// widened, zero points subtracted, to float64 in scratch (exact: every
// partial sum of 8-bit products stays far below 2^53) and Conv's im2col and
// a plain float64 product run on them.
type intConvKernel struct {
	node    *graph.Node
	group   int
	qlinear bool
}

func newConvInteger(n *graph.Node, opset int) (Kernel, error) {
	return newIntConv(n, false)
}

func newQLinearConv(n *graph.Node, opset int) (Kernel, error) {
	return newIntConv(n, true)
}

func newIntConv(n *graph.Node, qlinear bool) (Kernel, error) {
	g := int(n.Int("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("%s: invalid group %d", n.Op, g)
	}
	return &intConvKernel{node: n, group: g, qlinear: qlinear}, nil
}

// intConvPlan is the kernel specialized to shapes.
type intConvPlan struct {
	conv                     convShape
	wIdx, xzIdx, wzIdx, bIdx int // input positions (bIdx -1 without bias)
	xOff, wOff, yOff, colOff int // scratch sections
	xLen, wLen, yLen         int
	lo, hi                   float64
	qlinear                  bool
}

func (k *intConvKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	op := k.node.Op
	p := &intConvPlan{wIdx: 1, xzIdx: 2, wzIdx: 3, bIdx: -1, qlinear: k.qlinear}
	if k.qlinear {
		p.wIdx, p.xzIdx, p.wzIdx = 3, 2, 5
		if inputAt(in, 8) != nil {
			p.bIdx = 8
		}
	}
	x, w := in[0], in[p.wIdx]
	if !quantDType(x.DType) || !quantDType(w.DType) {
		return Step{}, fmt.Errorf("%s: x %v, w %v: want uint8 or int8", op, x.DType, w.DType)
	}
	shape, err := newConvShape(k.node, op, x, w, k.group, out)
	if err != nil {
		return Step{}, err
	}
	p.conv = shape
	c := &p.conv
	if err := checkQParam(op, "x_zero_point", inputAt(in, p.xzIdx), 1, x.DType); err != nil {
		return Step{}, err
	}
	if err := checkQParam(op, "w_zero_point", inputAt(in, p.wzIdx), c.m, w.DType); err != nil {
		return Step{}, err
	}
	if k.qlinear {
		for _, q := range []struct {
			what string
			i, n int
			dt   tensor.DType
		}{{"x_scale", 1, 1, tensor.Float32}, {"w_scale", 4, c.m, tensor.Float32},
			{"y_scale", 6, 1, tensor.Float32}, {"y_zero_point", 7, 1, out[0].DType}, {"B", 8, c.m, tensor.Int32}} {
			if err := checkQParam(op, q.what, inputAt(in, q.i), q.n, q.dt); err != nil {
				return Step{}, err
			}
		}
		lo, hi := quantRange(out[0].DType)
		p.lo, p.hi = float64(lo), float64(hi)
	} else if out[0].DType != tensor.Int32 {
		return Step{}, fmt.Errorf("%s: output type %v, want int32", op, out[0].DType)
	}
	p.xLen, p.wLen, p.yLen = x.Len(), w.Len(), out[0].Len()
	var sl scratchLayout
	p.xOff, p.wOff, p.yOff = sl.take(8*p.xLen), sl.take(8*p.wLen), sl.take(8*p.yLen)
	p.colOff = sl.take(8 * c.kdim * c.outVol)
	return Step{Scratch: sl.size, Run: p.run}, nil
}

func (p *intConvPlan) run(in, out []*tensor.Tensor, s []byte) error {
	c := &p.conv
	xf := section[float64](s, p.xOff, p.xLen)
	wf := section[float64](s, p.wOff, p.wLen)
	yf := section[float64](s, p.yOff, p.yLen)
	col := section[float64](s, p.colOff, c.kdim*c.outVol)
	widenMinusZero(xf, in[0], inputAt(in, p.xzIdx), p.xLen)
	widenMinusZero(wf, in[p.wIdx], inputAt(in, p.wzIdx), p.wLen/c.m)
	for n := 0; n < c.n; n++ {
		for gi := 0; gi < c.group; gi++ {
			xg := xf[(n*c.c+gi*c.cg)*c.inVol:][:c.cg*c.inVol]
			im2col(c.g, c.cg, xg, col)
			yg := yf[(n*c.m+gi*c.mg)*c.outVol:][:c.mg*c.outVol]
			gemmGo(false, false, c.mg, c.outVol, c.kdim, 1, wf[gi*c.mg*c.kdim:], c.kdim, col, c.outVol, 0, yg, c.outVol)
		}
	}
	if !p.qlinear {
		y := tensor.Data[int32](out[0])
		for i, v := range yf {
			y[i] = int32(v)
		}
		return nil
	}
	xs := float64(tensor.Data[float32](in[1])[0])
	ws := tensor.Data[float32](in[4])
	ys := float64(tensor.Data[float32](in[6])[0])
	yz := float64(zeroPointInt(inputAt(in, 7), 0))
	var bias []int32
	if p.bIdx >= 0 {
		bias = tensor.Data[int32](in[p.bIdx])
	}
	y := out[0].Raw
	for i, v := range yf {
		m := (i / c.outVol) % c.m
		if bias != nil {
			v += float64(bias[m])
		}
		q := math.RoundToEven(v*xs*float64(ws[min(m, len(ws)-1)])/ys) + yz
		y[i] = byte(int32(min(max(q, p.lo), p.hi)))
	}
	return nil
}

// productF64 sets the m×n matrix c to a·b for row-major m×k a and k×n b.
func productF64(m, n, k int, a, b, c []float64) {
	for i := 0; i < m; i++ {
		row := c[i*n : (i+1)*n]
		clear(row)
		for p := 0; p < k; p++ {
			av := a[i*k+p]
			if av == 0 {
				continue
			}
			bp := b[p*n : (p+1)*n]
			for j, bv := range bp {
				row[j] += av * bv
			}
		}
	}
}

// widenMinusZero sets dst[i] = t[i] − zp[i/block] (zp per tensor when it
// has one element) for an 8-bit t.
func widenMinusZero(dst []float64, t, zp *tensor.Tensor, block int) {
	signed := t.DType == tensor.Int8
	for i, b := range t.Raw[:len(dst)] {
		v := float64(b)
		if signed {
			v = float64(int8(b))
		}
		dst[i] = v - float64(zeroPointInt(zp, i/block))
	}
}
