package graph

import (
	"fmt"
)

// Schemas of the neural-network operators: matrix products, convolution and
// pooling (schema_conv.go), normalization, softmax, reductions and the
// recurrent cells (schema_rnn.go), plus Sextant's fused MatMul/Gemm.
func addNNSchemas(add func(*Schema)) {
	add(&Schema{Op: "MatMul", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: inferMatMul})
	add(&Schema{Op: "FusedMatMul", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferMatMul})
	add(&Schema{Op: "Gemm", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferGemm})
	add(&Schema{Op: "FusedGemm", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferGemm})
	add(&Schema{Op: "BatchNormalization", MinInputs: 5, MaxInputs: 5, MinOutputs: 1, MaxOutputs: 5, Infer: inferBatchNorm})
	add(&Schema{Op: "LayerNormalization", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 3, Infer: inferLayerNorm})
	add(&Schema{Op: "InstanceNormalization", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferSameFloat})
	add(&Schema{Op: "MeanVarianceNormalization", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Infer: inferSameFloat})
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		add(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Infer: inferSoftmax})
	}
	addReduceSchemas(add)
	addConvSchemas(add)
	addRNNSchemas(add)
}

// nnKnown returns a type of the given dtype and dims, rank known.
func nnKnown(in Operand, dims []Dim) Type {
	return Type{DType: in.Type.DType, Shape: dims, Known: true}
}

// nnOuts fills one Type per declared output with first and the rest from
// more (outputs beyond those given get first's dtype and an unknown shape).
func nnOuts(n *Node, types ...Type) []Type {
	out := make([]Type, len(n.Outputs))
	for i := range out {
		if i < len(types) {
			out[i] = types[i]
		} else if len(types) > 0 {
			out[i] = Type{DType: types[0].DType}
		}
	}
	return out
}

// nnSameDim reports an error when two dimensions are both fixed and differ.
func nnSameDim(what string, a, b Dim) error {
	if a.IsFixed() && b.IsFixed() && a.Size != b.Size {
		return fmt.Errorf("%s: %d != %d", what, a.Size, b.Size)
	}
	return nil
}

// nnFloatInput checks that input i is a floating-point tensor.
func nnFloatInput(in []Operand, i int) error {
	if dt := in[i].Type.DType; dt != 0 && !dt.IsFloat() {
		return fmt.Errorf("input %d: want a floating-point type, got %v", i, dt)
	}
	return nil
}

// inferMatMul infers the output shape of ONNX MatMul (numpy.matmul semantics:
// 1-D operands are promoted and the added axis dropped, batch axes
// broadcast). FusedMatMul's optional bias is checked against N.
func inferMatMul(n *Node, opset int, in []Operand) ([]Type, error) {
	a, b := in[0].Type, in[1].Type
	if a.DType != b.DType {
		return nil, fmt.Errorf("operand types differ: %v and %v", a.DType, b.DType)
	}
	if !a.Known || !b.Known {
		return nnOuts(n, Type{DType: a.DType}), nil
	}
	as, bs := a.Shape, b.Shape
	if len(as) == 0 || len(bs) == 0 {
		return nil, fmt.Errorf("MatMul operands must have rank >= 1, got %v and %v", a, b)
	}
	if len(as) == 1 {
		as = []Dim{Fixed(1), as[0]}
	}
	if len(bs) == 1 {
		bs = []Dim{bs[0], Fixed(1)}
	}
	if err := nnSameDim("inner dimensions", as[len(as)-1], bs[len(bs)-2]); err != nil {
		return nil, err
	}
	batch, err := BroadcastDims(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	out := append(batch, as[len(as)-2], bs[len(bs)-1])
	if len(b.Shape) == 1 {
		out = append(out[:len(out)-2], out[len(out)-2])
	}
	if len(a.Shape) == 1 {
		if len(b.Shape) == 1 {
			out = out[:len(out)-1]
		} else {
			out = append(out[:len(out)-2], out[len(out)-1])
		}
	}
	if len(in) > 2 && in[2].Present && in[2].Type.Known {
		bias := in[2].Type.Shape
		if len(bias) != 1 {
			return nil, fmt.Errorf("bias must be 1-D, got %v", in[2].Type)
		}
		if err := nnSameDim("bias length", bias[0], bs[len(bs)-1]); err != nil {
			return nil, err
		}
	}
	return nnOuts(n, nnKnown(in[0], out)), nil
}

func inferGemm(n *Node, opset int, in []Operand) ([]Type, error) {
	a, b := in[0].Type, in[1].Type
	if a.DType != b.DType {
		return nil, fmt.Errorf("operand types differ: %v and %v", a.DType, b.DType)
	}
	if !a.Known || !b.Known {
		return nnOuts(n, Type{DType: a.DType}), nil
	}
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, fmt.Errorf("Gemm operands must be 2-D, got %v and %v", a, b)
	}
	m, ka := a.Shape[0], a.Shape[1]
	if n.Int("transA", 0) != 0 {
		m, ka = ka, m
	}
	kb, nn := b.Shape[0], b.Shape[1]
	if n.Int("transB", 0) != 0 {
		kb, nn = nn, kb
	}
	if err := nnSameDim("inner dimensions", ka, kb); err != nil {
		return nil, err
	}
	out := []Dim{m, nn}
	if len(in) > 2 && in[2].Present && in[2].Type.Known {
		if len(in[2].Type.Shape) > 2 {
			return nil, fmt.Errorf("C has rank %d > 2", len(in[2].Type.Shape))
		}
		bd, err := BroadcastDims(out, in[2].Type.Shape)
		if err != nil {
			return nil, fmt.Errorf("C does not broadcast to the output: %w", err)
		}
		for i := range bd {
			if bd[i].IsFixed() && out[i].IsFixed() && bd[i].Size != out[i].Size {
				return nil, fmt.Errorf("C does not broadcast to [%v %v]", m, nn)
			}
		}
	}
	return nnOuts(n, nnKnown(in[0], out)), nil
}

func inferBatchNorm(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := nnFloatInput(in, 0); err != nil {
		return nil, err
	}
	x := in[0].Type
	ch := Type{DType: x.DType}
	if x.Known {
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("input must have rank >= 2, got %v", x)
		}
		ch = Type{DType: x.DType, Shape: []Dim{x.Shape[1]}, Known: true}
		for i := 1; i < 5; i++ {
			if t := in[i].Type; t.Known {
				if len(t.Shape) != 1 {
					return nil, fmt.Errorf("input %d must be 1-D, got %v", i, t)
				}
				if err := nnSameDim(fmt.Sprintf("input %d length", i), t.Shape[0], x.Shape[1]); err != nil {
					return nil, err
				}
			}
		}
	}
	extra := false
	for _, o := range n.Outputs[1:] {
		extra = extra || o != nil
	}
	switch {
	case !extra:
	case opset < 14:
		return nil, fmt.Errorf("training outputs are supported from opset 14 (got opset %d)", opset)
	case len(n.Outputs) > 3:
		return nil, fmt.Errorf("%d outputs: want 1 to 3", len(n.Outputs))
	case n.Int("training_mode", 0) == 0:
		return nil, fmt.Errorf("running mean and variance outputs need training_mode=1")
	}
	return nnOuts(n, Same(in[0]), ch, ch), nil
}

func inferLayerNorm(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := nnFloatInput(in, 0); err != nil {
		return nil, err
	}
	x := in[0].Type
	stat := Type{DType: x.DType}
	if st := n.Int("stash_type", 1); st != 1 {
		return nil, fmt.Errorf("stash_type %d is not supported (want 1, float32)", st)
	}
	if x.Known {
		axis, err := NormAxis(n.Int("axis", -1), len(x.Shape))
		if err != nil {
			return nil, err
		}
		dims := append([]Dim{}, x.Shape[:axis]...)
		for range x.Shape[axis:] {
			dims = append(dims, Fixed(1))
		}
		stat = Type{DType: x.DType, Shape: dims, Known: true}
		for i := 1; i < len(in); i++ {
			t := in[i].Type
			if !in[i].Present || !t.Known {
				continue
			}
			if len(t.Shape) > len(x.Shape)-axis {
				return nil, fmt.Errorf("input %d has rank %d, more than the %d normalized axes", i, len(t.Shape), len(x.Shape)-axis)
			}
			if _, err := BroadcastDims(x.Shape[axis:], t.Shape); err != nil {
				return nil, fmt.Errorf("input %d: %w", i, err)
			}
		}
	}
	return nnOuts(n, Same(in[0]), stat, stat), nil
}

func inferSoftmax(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := nnFloatInput(in, 0); err != nil {
		return nil, err
	}
	x := in[0].Type
	if x.Known {
		def := int64(-1)
		if opset < 13 {
			def = 1
		}
		if _, err := NormAxis(n.Int("axis", def), len(x.Shape)); err != nil {
			return nil, err
		}
	}
	return nnOuts(n, Same(in[0])), nil
}

// inferSameFloat types an op whose output has its floating-point input's
// type.
func inferSameFloat(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := nnFloatInput(in, 0); err != nil {
		return nil, err
	}
	return nnOuts(n, Same(in[0])), nil
}
