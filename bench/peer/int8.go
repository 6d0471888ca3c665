package peer

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/quant"
	"github.com/sextant-ml/sextant/tensor"
)

// ErrNotQuantizable is returned (wrapped) by NewSextantInt8 for a model with
// no product quant.Dynamic rewrites (no MatMul or Gemm with a constant
// float32 weight).
var ErrNotQuantizable = errors.New("no product to quantize")

// Int8Info describes what dynamic int8 quantization did to a model.
type Int8Info struct {
	// F32WeightBytes and Int8WeightBytes are the bytes of the graph's
	// initializers after graph.Optimize, before and after quant.Dynamic.
	F32WeightBytes, Int8WeightBytes int64
	// Products is the number of nodes rewritten to DynamicQuantMatMul.
	Products int
}

// Ratio is F32WeightBytes / Int8WeightBytes.
func (i Int8Info) Ratio() float64 {
	if i.Int8WeightBytes == 0 {
		return 0
	}
	return float64(i.F32WeightBytes) / float64(i.Int8WeightBytes)
}

// NewSextantInt8 decodes an ONNX model, optimizes it and quantizes it with
// quant.Dynamic (mode int8-dynamic, what `sextant convert --quantize
// int8-dynamic` does), then compiles it with default engine options but for
// threads (the int8 products do not split yet). A model with nothing to
// quantize gives an error wrapping ErrNotQuantizable.
func NewSextantInt8(model []byte, threads int) (*Sextant, Int8Info, error) {
	var info Int8Info
	g, err := onnx.Decode(model)
	if err != nil {
		return nil, info, fmt.Errorf("peer: sextant int8: %w", err)
	}
	if _, err := graph.Optimize(g, engine.Evaluator{}, graph.OptimizeOptions{}); err != nil {
		return nil, info, fmt.Errorf("peer: sextant int8: optimize: %w", err)
	}
	info.F32WeightBytes = initializerBytes(g)
	if _, err := quant.Dynamic(g); err != nil {
		if errors.Is(err, quant.ErrNothingToQuantize) {
			return nil, info, fmt.Errorf("peer: sextant int8: %w: %w", ErrNotQuantizable, err)
		}
		return nil, info, fmt.Errorf("peer: sextant int8: %w", err)
	}
	info.Int8WeightBytes = initializerBytes(g)
	for _, n := range g.Nodes {
		if n.Op == "DynamicQuantMatMul" {
			info.Products++
		}
	}
	m, err := engine.Compile(g, engine.Options{Threads: threads})
	if err != nil {
		return nil, info, fmt.Errorf("peer: sextant int8: compile: %w", err)
	}
	return &Sextant{Model: m, Session: m.NewSession(), ctx: context.Background()}, info, nil
}

// initializerBytes is the size of g's constant initializers.
func initializerBytes(g *graph.Graph) int64 {
	var n int64
	for _, v := range g.Initializers {
		if c := v.Const; c != nil {
			n += int64(c.Len()) * int64(c.DType.Size())
		}
	}
	return n
}

// RelMaxError runs ref and got on every input set and returns the largest
// |got − ref| over all float32 output elements, divided by the largest
// |ref| (the absolute error when every reference output is 0).
func RelMaxError(ref, got *Sextant, sets [][]*tensor.Tensor) (float64, error) {
	var maxErr, maxRef float64
	for _, in := range sets {
		r, err := ref.Run(in)
		if err != nil {
			return 0, err
		}
		want := make([][]float32, len(r))
		for j, t := range r {
			if t.DType == tensor.Float32 {
				want[j] = append([]float32(nil), tensor.Data[float32](t)...)
			}
		}
		o, err := got.Run(in)
		if err != nil {
			return 0, err
		}
		if len(o) != len(want) {
			return 0, fmt.Errorf("peer: %d outputs, want %d", len(o), len(want))
		}
		for j, t := range o {
			if want[j] == nil {
				continue
			}
			if t.DType != tensor.Float32 || t.Len() != len(want[j]) {
				return 0, fmt.Errorf("peer: output %d is %v %v, want %d float32s", j, t.DType, t.Shape, len(want[j]))
			}
			for i, x := range tensor.Data[float32](t) {
				w := float64(want[j][i])
				maxRef = max(maxRef, math.Abs(w))
				maxErr = max(maxErr, math.Abs(float64(x)-w))
			}
		}
	}
	if maxRef == 0 {
		return maxErr, nil
	}
	return maxErr / maxRef, nil
}
