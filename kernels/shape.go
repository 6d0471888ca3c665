package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Data-movement and shape operators. Their output shapes were inferred by
// graph (schema_shape*.go) before Prepare, so most kernels here only check
// them and move bytes: the reshaping ops are one copy, the rest are planned
// walks (strided.go, layout.go, gather.go, concat.go, pad.go).

func addShape(add func(string, Factory)) {
	for _, op := range []string{"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"} {
		add(op, newReshaping(op))
	}
	add("Transpose", newTranspose)
	add("Slice", newSlice)
	add("Expand", newExpand)
	add("Tile", newTile)
	add("Gather", newGather)
	add("GatherElements", newGatherElements)
	add("GatherND", newGatherND)
	add("Concat", newConcat)
	add("Split", newSplit)
	add("Shape", newShape)
	add("Size", newSize)
	add("Constant", newConstant)
	add("ConstantOfShape", newConstantOfShape)
	add("Range", newRange)
	add("Pad", newPad)
}

// newReshaping returns the factory of an op that keeps its input's elements
// in order and changes only the shape: the output is a copy.
func newReshaping(op string) Factory {
	return func(n *graph.Node, opset int) (Kernel, error) {
		return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
			if !shOutputUsed(out) {
				return shNoop, nil
			}
			x, o := in[0], out[0]
			if o.DType != x.DType || o.Len() != x.Len() {
				return Step{}, fmt.Errorf("%s: output %v for input %v", op, o, x)
			}
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
				copyAll(out[0], in[0])
				return nil
			}}, nil
		}), nil
	}
}

// bytesStep returns a step that writes the fixed bytes b to output 0.
func bytesStep(b []byte) Step {
	return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
		copy(out[0].Raw, b)
		return nil
	}}
}

func newShape(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x := in[0]
		start, end := graph.ShapeRange(n, opset, x.Rank())
		dims := make([]int64, end-start)
		for i := range dims {
			dims[i] = int64(x.Shape[start+i])
		}
		if err := shCheckOut("Shape", out, tensor.Int64, tensor.Shape{len(dims)}); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		return bytesStep(tensor.Bytes(dims)), nil
	}), nil
}

func newSize(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if err := shCheckOut("Size", out, tensor.Int64, tensor.Shape{}); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		return bytesStep(tensor.Bytes([]int64{int64(in[0].Len())})), nil
	}), nil
}

func newConstant(n *graph.Node, opset int) (Kernel, error) {
	v, err := graph.ConstantTensor(n)
	if err != nil {
		return nil, err
	}
	v = v.Clone()
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if err := shCheckOut("Constant", out, v.DType, v.Shape); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			copyAll(out[0], v)
			return nil
		}}, nil
	}), nil
}

func newConstantOfShape(n *graph.Node, opset int) (Kernel, error) {
	v, err := graph.ConstantOfShapeValue(n)
	if err != nil {
		return nil, err
	}
	elem := append([]byte{}, v.Raw...)
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		if out[0].DType != v.DType {
			return Step{}, fmt.Errorf("ConstantOfShape: output is %v, value is %v", out[0].DType, v.DType)
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			fillPattern(out[0].Raw, elem)
			return nil
		}}, nil
	}), nil
}

// fillPattern fills b with repeats of pat (len(b) a multiple of len(pat)),
// doubling the filled prefix with each copy.
func fillPattern(b, pat []byte) {
	if len(b) == 0 {
		return
	}
	n := copy(b, pat)
	for n < len(b) {
		n += copy(b[n:], b[:n])
	}
}

func newRange(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dt := in[0].DType
		for i := 0; i < 3; i++ {
			if in[i].DType != dt || in[i].Len() != 1 {
				return Step{}, fmt.Errorf("Range: inputs must be scalars of one type, got %v, %v, %v", in[0], in[1], in[2])
			}
		}
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		if out[0].DType != dt || out[0].Rank() != 1 {
			return Step{}, fmt.Errorf("Range: output %v for %v inputs", out[0], dt)
		}
		var run func(start, delta, o *tensor.Tensor)
		switch dt {
		case tensor.Float32:
			run = func(s, d, o *tensor.Tensor) {
				// Accumulate in float64 like NumPy's arange, then round.
				rangeFill(tensor.Data[float32](o), float64(tensor.Data[float32](s)[0]), float64(tensor.Data[float32](d)[0]))
			}
		case tensor.Float64:
			run = func(s, d, o *tensor.Tensor) {
				rangeFill(tensor.Data[float64](o), tensor.Data[float64](s)[0], tensor.Data[float64](d)[0])
			}
		case tensor.Int16:
			run = func(s, d, o *tensor.Tensor) {
				rangeInts(tensor.Data[int16](o), tensor.Data[int16](s)[0], tensor.Data[int16](d)[0])
			}
		case tensor.Int32:
			run = func(s, d, o *tensor.Tensor) {
				rangeInts(tensor.Data[int32](o), tensor.Data[int32](s)[0], tensor.Data[int32](d)[0])
			}
		case tensor.Int64:
			run = func(s, d, o *tensor.Tensor) {
				rangeInts(tensor.Data[int64](o), tensor.Data[int64](s)[0], tensor.Data[int64](d)[0])
			}
		default:
			return Step{}, unsupportedDType("Range", dt)
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			run(in[0], in[2], out[0])
			return nil
		}}, nil
	}), nil
}

// rangeFill writes start + i·delta, computed in float64.
func rangeFill[T float32 | float64](o []T, start, delta float64) {
	for i := range o {
		o[i] = T(start + float64(i)*delta)
	}
}

// rangeInts writes start + i·delta.
func rangeInts[T int16 | int32 | int64](o []T, start, delta T) {
	v := start
	for i := range o {
		o[i] = v
		v += delta
	}
}
