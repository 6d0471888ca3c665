package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// convGradPlan is a 1-D convolution's geometry: X[N,C,L], W[M,C/g,K],
// Y[N,M,Lo] with y[n,m,o] = Σ w[m,c,k]·x[n, g·C/g + c, o·stride + k·dil − pad].
type convGradPlan struct {
	n, c, l, m, k, lo       int
	stride, dil, pad, group int
}

// newConvGrad is (dY, X, W) → dX, dW, dB of a 1-D Conv with explicit pads
// (auto_pad NOTSET or VALID), any stride, dilation and group count.
func newConvGrad(n *graph.Node, opset int) (Kernel, error) {
	one := func(name string, def int64) (int, error) {
		v, ok := n.Ints(name)
		switch {
		case !ok || len(v) == 0:
			return int(def), nil
		case len(v) == 1:
			return int(v[0]), nil
		case len(v) == 2 && name == "pads":
			if v[0] != v[1] {
				return 0, fmt.Errorf("ConvGrad: asymmetric pads %v are not supported", v)
			}
			return int(v[0]), nil
		}
		return 0, fmt.Errorf("ConvGrad: %s %v: only 1-D convolutions are supported", name, v)
	}
	var g convGradPlan
	var err error
	if ap := n.Str("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return nil, fmt.Errorf("ConvGrad: auto_pad %s is not supported", ap)
	}
	if g.stride, err = one("strides", 1); err != nil {
		return nil, err
	}
	if g.dil, err = one("dilations", 1); err != nil {
		return nil, err
	}
	if g.pad, err = one("pads", 0); err != nil {
		return nil, err
	}
	g.group = int(n.Int("group", 1))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy, x, w := in[0], in[1], in[2]
		if len(x.Shape) != 3 || len(w.Shape) != 3 || len(dy.Shape) != 3 {
			return Step{}, fmt.Errorf("%w: ConvGrad supports 1-D convolutions, got X %v, W %v", tensor.ErrShape, x, w)
		}
		p := g
		p.n, p.c, p.l = x.Shape[0], x.Shape[1], x.Shape[2]
		p.m, p.k, p.lo = w.Shape[0], w.Shape[2], dy.Shape[2]
		if p.group < 1 || p.c%p.group != 0 || p.m%p.group != 0 || w.Shape[1] != p.c/p.group || dy.Shape[0] != p.n || dy.Shape[1] != p.m {
			return Step{}, fmt.Errorf("%w: ConvGrad dY %v, X %v, W %v, group %d", tensor.ErrShape, dy, x, w, p.group)
		}
		if want := (p.l+2*p.pad-p.dil*(p.k-1)-1)/p.stride + 1; want != p.lo {
			return Step{}, fmt.Errorf("%w: ConvGrad dY length %d, want %d", tensor.ErrShape, p.lo, want)
		}
		for i, s := range []tensor.Shape{x.Shape, w.Shape, {p.m}} {
			if err := checkOut(out, i, s); err != nil {
				return Step{}, err
			}
		}
		return floatStep("ConvGrad", x.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { convGradRun[float32](&p, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { convGradRun[float64](&p, in, out); return nil })
	}), nil
}

func convGradRun[T floatElem](p *convGradPlan, in, out []*tensor.Tensor) {
	dy, x, w := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](in[2])
	var dx, dw, db []T
	if out[0] != nil {
		dx = tensor.Data[T](out[0])
		clear(dx)
	}
	if len(out) > 1 && out[1] != nil {
		dw = tensor.Data[T](out[1])
		clear(dw)
	}
	if len(out) > 2 && out[2] != nil {
		db = tensor.Data[T](out[2])
		clear(db)
	}
	cg, mg := p.c/p.group, p.m/p.group
	for n := 0; n < p.n; n++ {
		for m := 0; m < p.m; m++ {
			grp := m / mg
			dyr := dy[(n*p.m+m)*p.lo : (n*p.m+m+1)*p.lo]
			if db != nil {
				for _, v := range dyr {
					db[m] += v
				}
			}
			for c := 0; c < cg; c++ {
				xc := (n*p.c + grp*cg + c) * p.l
				wr := (m*cg + c) * p.k
				for k := 0; k < p.k; k++ {
					wv := w[wr+k]
					var acc T
					for o, d := range dyr {
						pos := o*p.stride + k*p.dil - p.pad
						if pos < 0 || pos >= p.l {
							continue
						}
						if dx != nil {
							dx[xc+pos] += d * wv
						}
						acc += d * x[xc+pos]
					}
					if dw != nil {
						dw[wr+k] += acc
					}
				}
			}
		}
	}
}
