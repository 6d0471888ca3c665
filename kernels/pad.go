package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Pad maps every output coordinate, axis by axis, to a source coordinate
// or to the constant: the maps are built in Prepare and Run only looks them
// up. Modes follow ONNX (and NumPy's pad): constant, reflect (mirror without
// repeating the edge), edge (repeat the edge) and wrap.

// padPlan is Pad specialized to shapes.
type padPlan struct {
	shape []int   // output shape, at least rank 1
	maps  [][]int // per axis: source element offset of each output index, or -1 for the constant
	es    int
	// attrValue is the constant before opset 11 (an attribute), one
	// aligned element; nil when the constant is input 2.
	attrValue []byte
}

func newPad(n *graph.Node, opset int) (Kernel, error) {
	mode := n.Str("mode", "constant")
	switch mode {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("Pad: unknown mode %q", mode)
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x := in[0]
		r := x.Rank()
		if r > maxLoopRank {
			return Step{}, fmt.Errorf("Pad: rank %d above %d", r, maxLoopRank)
		}
		pads, known, err := graph.PadAmounts(n, opset, shOperands(in), r)
		if err != nil || !known {
			return Step{}, fmt.Errorf("Pad: pads not known (%v)", err)
		}
		p := &padPlan{es: x.DType.Size()}
		shape := make(tensor.Shape, r)
		strides := x.Shape.Strides()
		for a, d := range x.Shape {
			b := int(pads[a])
			shape[a] = d + b + int(pads[r+a])
			if shape[a] < 0 {
				return Step{}, fmt.Errorf("Pad: pads %v crop axis %d below 0", pads, a)
			}
			m := make([]int, shape[a])
			for o := range m {
				v, ok := padSource(mode, o-b, d)
				if !ok && mode != "constant" {
					return Step{}, fmt.Errorf("Pad: %s mode on an empty axis %d", mode, a)
				}
				m[o] = -1
				if ok {
					m[o] = v * strides[a]
				}
			}
			p.maps = append(p.maps, m)
		}
		if err := shCheckOut("Pad", out, x.DType, shape); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) || shape.NumElements() == 0 {
			return shNoop, nil
		}
		p.shape = shape
		if r == 0 {
			p.shape, p.maps = []int{1}, [][]int{{0}}
		}
		if opset < 11 {
			if p.attrValue, err = padAttrValue(x.DType, n.Float("value", 0)); err != nil {
				return Step{}, err
			}
		} else if cv := shInput(in, 2); cv != nil && (cv.DType != x.DType || cv.Len() > 1) {
			return Step{}, fmt.Errorf("Pad: constant_value %v for %v data", cv, x.DType)
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			p.run(out[0], in[0], shInput(in, 2))
			return nil
		}}, nil
	}), nil
}

// padSource maps a coordinate v (relative to the source's start) into an
// axis of size n; ok is false where the constant goes.
func padSource(mode string, v, n int) (int, bool) {
	if v >= 0 && v < n {
		return v, true
	}
	if n == 0 {
		return 0, false
	}
	switch mode {
	case "edge":
		return min(max(v, 0), n-1), true
	case "wrap":
		return ((v % n) + n) % n, true
	case "reflect":
		if n == 1 {
			return 0, true
		}
		m := 2 * (n - 1)
		v = ((v % m) + m) % m
		if v >= n {
			v = m - v
		}
		return v, true
	}
	return 0, false
}

// padAttrValue converts Pad-2's float value attribute to one element of dt.
func padAttrValue(dt tensor.DType, f float32) ([]byte, error) {
	b := tensor.AlignedBytes(8)
	switch dt {
	case tensor.Float32:
		tensor.Cast[float32](b)[0] = f
	case tensor.Float64:
		tensor.Cast[float64](b)[0] = float64(f)
	case tensor.Float16:
		tensor.Cast[uint16](b)[0] = uint16(tensor.Float16FromFloat32(f))
	case tensor.BFloat16:
		tensor.Cast[uint16](b)[0] = uint16(tensor.BFloat16FromFloat32(f))
	case tensor.Int8, tensor.Uint8, tensor.Int16, tensor.Uint16, tensor.Int32, tensor.Uint32, tensor.Int64, tensor.Uint64, tensor.Bool:
		v := int64(f)
		for i := range dt.Size() {
			b[i] = byte(v >> (8 * i))
		}
	case tensor.String:
		return nil, nil
	default:
		return nil, unsupportedDType("Pad", dt)
	}
	return b, nil
}

func (p *padPlan) run(dst, src, cv *tensor.Tensor) {
	value := p.attrValue
	if value == nil && cv != nil && cv.Len() == 1 {
		value = cv.Raw
	}
	switch p.es {
	case 0:
		s := ""
		if cv != nil && len(cv.Strs) == 1 {
			s = cv.Strs[0]
		}
		padWalk(p, dst.Strs, src.Strs, s)
	case 1:
		padWalk(p, dst.Raw, src.Raw, padElem[uint8](value))
	case 2:
		padWalk(p, tensor.Cast[uint16](dst.Raw), tensor.Cast[uint16](src.Raw), padElem[uint16](value))
	case 4:
		padWalk(p, tensor.Cast[uint32](dst.Raw), tensor.Cast[uint32](src.Raw), padElem[uint32](value))
	case 8:
		padWalk(p, tensor.Cast[uint64](dst.Raw), tensor.Cast[uint64](src.Raw), padElem[uint64](value))
	}
}

// padElem reads one element from b, zero when b is empty.
func padElem[T uint8 | uint16 | uint32 | uint64](b []byte) T {
	if len(b) == 0 {
		return 0
	}
	return tensor.Cast[T](b)[0]
}

func padWalk[T any](p *padPlan, dst, src []T, cv T) {
	var idx [maxLoopRank]int
	r := len(p.shape)
	cols := p.shape[r-1]
	last := p.maps[r-1]
	for d := 0; d < len(dst); d += cols {
		base, pad := 0, false
		for a := 0; a < r-1; a++ {
			m := p.maps[a][idx[a]]
			if m < 0 {
				pad = true
				break
			}
			base += m
		}
		row := dst[d : d+cols]
		if pad {
			for c := range row {
				row[c] = cv
			}
		} else {
			for c, m := range last {
				if m < 0 {
					row[c] = cv
				} else {
					row[c] = src[base+m]
				}
			}
		}
		for a := r - 2; a >= 0; a-- {
			idx[a]++
			if idx[a] < p.shape[a] {
				break
			}
			idx[a] = 0
		}
	}
}
