package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// poolKernel is MaxPool and AveragePool over 1, 2 or 3 spatial axes (ONNX
// Operators.md MaxPool-12, AveragePool-11): kernel_shape, strides, pads,
// dilations, auto_pad and ceil_mode shape the windows; AveragePool divides
// by the window's positions inside the input, or inside the padded input
// with count_include_pad; MaxPool's optional Indices output gives each
// maximum's offset in the flattened input, row-major (storage_order 0) or
// column-major over the spatial axes (storage_order 1).
type poolKernel struct {
	max          bool
	win          *graph.Window
	includePad   bool
	storageOrder int
}

func newPool(n *graph.Node, opset int) (Kernel, error) {
	ks, ok := n.Ints("kernel_shape")
	if !ok {
		return nil, fmt.Errorf("%s: kernel_shape is required", n.Op)
	}
	kernel := make([]int, len(ks))
	for i, k := range ks {
		kernel[i] = int(k)
	}
	if len(kernel) < 1 || len(kernel) > 3 {
		return nil, fmt.Errorf("%s: %d spatial axes (1 to 3 supported)", n.Op, len(kernel))
	}
	w, err := graph.NewWindow(n, kernel)
	if err != nil {
		return nil, err
	}
	return &poolKernel{
		max:          n.Op == "MaxPool",
		win:          w,
		includePad:   n.Int("count_include_pad", 0) != 0,
		storageOrder: int(n.Int("storage_order", 0)),
	}, nil
}

// window3 is a window geometry over exactly three spatial axes: 1-D and 2-D
// inputs get leading axes of size 1 with unit kernel and stride.
type window3 struct {
	planes                   int // N·C
	in, out, k, s, d, pb, pe [3]int
}

// newWindow3 resolves w over the spatial dims of x (shape [N, C, …]).
func newWindow3(w *graph.Window, x tensor.Shape) (*window3, tensor.Shape, error) {
	r := len(x) - 2
	if r != len(w.Kernel) || r < 1 || r > 3 {
		return nil, nil, fmt.Errorf("%w: input %v for a %d-D window", tensor.ErrShape, x, len(w.Kernel))
	}
	g := &window3{planes: x[0] * x[1]}
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	outShape := x[:2].Clone()
	for i := 0; i < r; i++ {
		j := 3 - r + i
		o, pb, pe, err := w.Resolve(i, x[2+i])
		if err != nil {
			return nil, nil, err
		}
		g.in[j], g.out[j], g.pb[j], g.pe[j] = x[2+i], o, pb, pe
		g.k[j], g.s[j], g.d[j] = w.Kernel[i], w.Strides[i], w.Dilations[i]
		outShape = append(outShape, o)
	}
	return g, outShape, nil
}

func (k *poolKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	g, want, err := newWindow3(k.win, x.Shape)
	if err != nil {
		return Step{}, err
	}
	if err := checkOut(out, 0, want); err != nil {
		return Step{}, err
	}
	if err := checkOut(out, 1, want); err != nil {
		return Step{}, err
	}
	if !k.max {
		switch x.DType {
		case tensor.Float32:
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
				avgPoolRun(g, k.includePad, tensor.Data[float32](in[0]), tensor.Data[float32](out[0]))
				return nil
			}}, nil
		case tensor.Float64:
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
				avgPoolRun(g, k.includePad, tensor.Data[float64](in[0]), tensor.Data[float64](out[0]))
				return nil
			}}, nil
		}
		return Step{}, unsupportedDType("AveragePool", x.DType)
	}
	order := k.storageOrder
	switch x.DType {
	case tensor.Float32:
		return maxPoolStep[float32](g, order), nil
	case tensor.Float64:
		return maxPoolStep[float64](g, order), nil
	case tensor.Uint8:
		return maxPoolStep[uint8](g, order), nil
	case tensor.Int8:
		return maxPoolStep[int8](g, order), nil
	case tensor.Int32:
		return maxPoolStep[int32](g, order), nil
	case tensor.Int64:
		return maxPoolStep[int64](g, order), nil
	}
	return Step{}, unsupportedDType("MaxPool", x.DType)
}

type poolElem interface {
	~float32 | ~float64 | ~uint8 | ~int8 | ~int32 | ~int64
}

func maxPoolStep[T poolElem](g *window3, order int) Step {
	return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
		var idx []int64
		if len(out) > 1 && out[1] != nil {
			idx = tensor.Data[int64](out[1])
		}
		maxPoolRun(g, order, tensor.Data[T](in[0]), tensor.Data[T](out[0]), idx)
		return nil
	}}
}

// maxPoolRun writes each window's maximum and, when idx is not nil, its
// flattened input index.
func maxPoolRun[T poolElem](g *window3, order int, x, y []T, idx []int64) {
	inPlane := g.in[0] * g.in[1] * g.in[2]
	outPlane := g.out[0] * g.out[1] * g.out[2]
	low := lowest[T]()
	for p := 0; p < g.planes; p++ {
		xs := x[p*inPlane : (p+1)*inPlane]
		o := p * outPlane
		for od := 0; od < g.out[0]; od++ {
			for oh := 0; oh < g.out[1]; oh++ {
				for ow := 0; ow < g.out[2]; ow++ {
					best, at, found := T(0), 0, false
					d0, h0, w0 := od*g.s[0]-g.pb[0], oh*g.s[1]-g.pb[1], ow*g.s[2]-g.pb[2]
					for kd := 0; kd < g.k[0]; kd++ {
						id := d0 + kd*g.d[0]
						if id < 0 || id >= g.in[0] {
							continue
						}
						for kh := 0; kh < g.k[1]; kh++ {
							ih := h0 + kh*g.d[1]
							if ih < 0 || ih >= g.in[1] {
								continue
							}
							row := (id*g.in[1] + ih) * g.in[2]
							for kw := 0; kw < g.k[2]; kw++ {
								iw := w0 + kw*g.d[2]
								if iw < 0 || iw >= g.in[2] {
									continue
								}
								if v := xs[row+iw]; !found || v > best {
									best, found = v, true
									if order == 0 {
										at = row + iw
									} else {
										at = id + ih*g.in[0] + iw*g.in[0]*g.in[1]
									}
								}
							}
						}
					}
					if !found {
						best = low
					}
					y[o] = best
					if idx != nil {
						idx[o] = int64(p*inPlane + at)
					}
					o++
				}
			}
		}
	}
}

// lowest is the smallest value of T (−Inf for floats).
func lowest[T poolElem]() T {
	var z T
	z--
	if z > 0 { // unsigned
		return 0
	}
	// Signed or float: build the most negative value by doubling.
	v := z // −1
	for {
		n := v * 2
		if n >= v || n != n {
			return v
		}
		v = n
	}
}

// avgPoolRun writes each window's mean.
func avgPoolRun[T floatElem](g *window3, includePad bool, x, y []T) {
	inPlane := g.in[0] * g.in[1] * g.in[2]
	outPlane := g.out[0] * g.out[1] * g.out[2]
	for p := 0; p < g.planes; p++ {
		xs := x[p*inPlane : (p+1)*inPlane]
		o := p * outPlane
		for od := 0; od < g.out[0]; od++ {
			for oh := 0; oh < g.out[1]; oh++ {
				for ow := 0; ow < g.out[2]; ow++ {
					var sum float64
					cnt, padCnt := 0, 1
					start := [3]int{od*g.s[0] - g.pb[0], oh*g.s[1] - g.pb[1], ow*g.s[2] - g.pb[2]}
					for a := range 3 {
						// Window positions inside the padded input.
						c := 0
						for t := 0; t < g.k[a]; t++ {
							if i := start[a] + t*g.d[a]; i >= -g.pb[a] && i < g.in[a]+g.pe[a] {
								c++
							}
						}
						padCnt *= c
					}
					for kd := 0; kd < g.k[0]; kd++ {
						id := start[0] + kd*g.d[0]
						if id < 0 || id >= g.in[0] {
							continue
						}
						for kh := 0; kh < g.k[1]; kh++ {
							ih := start[1] + kh*g.d[1]
							if ih < 0 || ih >= g.in[1] {
								continue
							}
							row := (id*g.in[1] + ih) * g.in[2]
							for kw := 0; kw < g.k[2]; kw++ {
								iw := start[2] + kw*g.d[2]
								if iw < 0 || iw >= g.in[2] {
									continue
								}
								sum += float64(xs[row+iw])
								cnt++
							}
						}
					}
					if includePad {
						cnt = padCnt
					}
					y[o] = T(sum / float64(cnt))
					o++
				}
			}
		}
	}
}

// globalPoolKernel is GlobalAveragePool and GlobalMaxPool: each [N, C]
// plane reduced to its mean or maximum.
type globalPoolKernel struct{ max bool }

func newGlobalPool(n *graph.Node, opset int) (Kernel, error) {
	return &globalPoolKernel{max: n.Op == "GlobalMaxPool"}, nil
}

func (k *globalPoolKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	x := in[0]
	if len(x.Shape) < 3 {
		return Step{}, fmt.Errorf("%w: global pool input %v", tensor.ErrShape, x)
	}
	want := x.Shape[:2].Clone()
	for range x.Shape[2:] {
		want = append(want, 1)
	}
	if err := checkOut(out, 0, want); err != nil {
		return Step{}, err
	}
	planes, size := x.Shape[0]*x.Shape[1], x.Shape[2:].NumElements()
	switch x.DType {
	case tensor.Float32:
		if !k.max {
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
				globalAvg32(planes, size, tensor.Data[float32](in[0]), tensor.Data[float32](out[0]))
				return nil
			}}, nil
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			globalPoolRun(k.max, planes, size, tensor.Data[float32](in[0]), tensor.Data[float32](out[0]))
			return nil
		}}, nil
	case tensor.Float64:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			globalPoolRun(k.max, planes, size, tensor.Data[float64](in[0]), tensor.Data[float64](out[0]))
			return nil
		}}, nil
	}
	return Step{}, unsupportedDType("GlobalPool", x.DType)
}

func globalPoolRun[T floatElem](isMax bool, planes, size int, x, y []T) {
	low := lowest[T]()
	for p := 0; p < planes; p++ {
		xs := x[p*size : (p+1)*size]
		if isMax {
			m := low
			for _, v := range xs {
				if v > m {
					m = v
				}
			}
			y[p] = m
			continue
		}
		var s float64
		for _, v := range xs {
			s += float64(v)
		}
		y[p] = T(s / float64(size))
	}
}

// globalAvg32 is GlobalAveragePool over float32 planes: eight independent
// float32 partial sums per block of at most 512 elements (so the adds
// pipeline instead of waiting on one chain), each block's total added into
// a float64 sum, so that long planes keep float64 accuracy.
func globalAvg32(planes, size int, x, y []float32) {
	const block = 512
	for p := 0; p < planes; p++ {
		xs := x[p*size : (p+1)*size]
		var total float64
		for len(xs) > 0 {
			b := xs[:min(block, len(xs))]
			xs = xs[len(b):]
			var s0, s1, s2, s3, s4, s5, s6, s7 float32
			i := 0
			for ; i+8 <= len(b); i += 8 {
				v := (*[8]float32)(b[i : i+8])
				s0, s1, s2, s3 = s0+v[0], s1+v[1], s2+v[2], s3+v[3]
				s4, s5, s6, s7 = s4+v[4], s5+v[5], s6+v[6], s7+v[7]
			}
			for ; i < len(b); i++ {
				s0 += b[i]
			}
			total += float64(((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)))
		}
		y[p] = float32(total / float64(size))
	}
}
