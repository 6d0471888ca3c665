package graph

import "fmt"

func addRNNSchemas(add func(*Schema)) {
	add(&Schema{Op: "RNN", MinInputs: 3, MaxInputs: 6, MinOutputs: 0, MaxOutputs: 2, Infer: inferRNN})
	add(&Schema{Op: "GRU", MinInputs: 3, MaxInputs: 6, MinOutputs: 0, MaxOutputs: 2, Infer: inferRNN})
	add(&Schema{Op: "LSTM", MinInputs: 3, MaxInputs: 8, MinOutputs: 0, MaxOutputs: 3, Infer: inferRNN})
}

// RNNDirections returns the number of directions of an RNN, GRU or LSTM node
// (its direction attribute: forward, reverse or bidirectional).
func RNNDirections(n *Node) (int, error) {
	switch d := n.Str("direction", "forward"); d {
	case "forward", "reverse":
		return 1, nil
	case "bidirectional":
		return 2, nil
	default:
		return 0, fmt.Errorf("unknown direction %q", d)
	}
}

// inferRNN types RNN's and GRU's (Y, Y_h) and LSTM's (Y, Y_h, Y_c). With layout 0,
// X is [seq, batch, input], Y [seq, dirs, batch, hidden] and Y_h, Y_c
// [dirs, batch, hidden]; with layout 1 the batch axis comes first: X
// [batch, seq, input], Y [batch, seq, dirs, hidden], Y_h [batch, dirs, hidden].
func inferRNN(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := nnFloatInput(in, 0); err != nil {
		return nil, err
	}
	dirs, err := RNNDirections(n)
	if err != nil {
		return nil, err
	}
	hidden := n.Int("hidden_size", 0)
	if hidden <= 0 {
		return nil, fmt.Errorf("hidden_size attribute is required and must be positive")
	}
	gates := map[string]int64{"RNN": 1, "GRU": 3, "LSTM": 4}[n.Op]
	layout := n.Int("layout", 0)
	if layout != 0 && layout != 1 {
		return nil, fmt.Errorf("invalid layout %d", layout)
	}
	x := in[0].Type
	if !x.Known {
		return nnOuts(n, Type{DType: x.DType}, Type{DType: x.DType}, Type{DType: x.DType}), nil
	}
	if len(x.Shape) != 3 {
		return nil, fmt.Errorf("X must be 3-D, got %v", x)
	}
	seq, batch := x.Shape[0], x.Shape[1]
	if layout == 1 {
		seq, batch = batch, seq
	}
	if w := in[1].Type; w.Known {
		if len(w.Shape) != 3 {
			return nil, fmt.Errorf("W must be 3-D, got %v", w)
		}
		if err := nnSameDim("W directions", w.Shape[0], Fixed(int64(dirs))); err != nil {
			return nil, err
		}
		if err := nnSameDim("W rows", w.Shape[1], Fixed(gates*hidden)); err != nil {
			return nil, err
		}
		if err := nnSameDim("W input size", w.Shape[2], x.Shape[2]); err != nil {
			return nil, err
		}
	}
	if r := in[2].Type; r.Known {
		if len(r.Shape) != 3 {
			return nil, fmt.Errorf("R must be 3-D, got %v", r)
		}
		if err := nnSameDim("R rows", r.Shape[1], Fixed(gates*hidden)); err != nil {
			return nil, err
		}
		if err := nnSameDim("R columns", r.Shape[2], Fixed(hidden)); err != nil {
			return nil, err
		}
	}
	h, d := Fixed(hidden), Fixed(int64(dirs))
	y := []Dim{seq, d, batch, h}
	yh := []Dim{d, batch, h}
	if layout == 1 {
		y = []Dim{batch, seq, d, h}
		yh = []Dim{batch, d, h}
	}
	yc := append([]Dim{}, yh...)
	return nnOuts(n, nnKnown(in[0], y), nnKnown(in[0], yh), nnKnown(in[0], yc)), nil
}
