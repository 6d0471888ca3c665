package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Schemas of Sextant's training operators (domain SextantDomain): the
// gradient ops the train package's reverse-mode differentiation emits, the
// losses it differentiates, and the optimizer updates. Their kernels are in
// kernels/grad_*.go. Most outputs have the type of one of the inputs (the
// "like" operand), which keeps symbolic dimensions symbolic.
func addGradSchemas(add func(*Schema)) {
	like := func(op string, minIn, maxIn int, from ...int) {
		add(&Schema{Op: op, MinInputs: minIn, MaxInputs: maxIn, MinOutputs: 1, MaxOutputs: len(from), Infer: inferLike(from...)})
	}
	// Pointwise derivatives: (dY, X or Y) → dX.
	for _, op := range []string{"ReluGrad", "LeakyReluGrad", "AbsGrad", "ErfGrad", "SigmoidGrad", "TanhGrad", "GeluGrad", "SoftmaxGrad", "LogSoftmaxGrad"} {
		like(op, 2, 2, 0)
	}
	// (dY, X, Scale) → dX, dScale, dBias.
	like("LayerNormalizationGrad", 3, 3, 1, 2, 2)
	// (dY, Like) → dY summed down to Like's (broadcast-compatible) shape.
	like("ReduceSumTo", 2, 2, 1)
	// (dY, X) → dY broadcast back over a reduction's axes.
	like("ReduceGrad", 2, 2, 1)
	// (X) → zeros of X's type.
	like("ZerosLike", 1, 1, 0)
	// (dY, Indices, Data) → dense dData.
	like("GatherGrad", 3, 3, 2)
	// (dY, X, starts, ends, axes, steps) → dX.
	add(&Schema{Op: "SliceGrad", MinInputs: 4, MaxInputs: 6, MinOutputs: 1, MaxOutputs: 1, Infer: inferLike(1),
		ValueInputs: func(int) []int { return []int{2, 3, 4, 5} }})
	// (dY, X₀, …, Xₙ₋₁) → dX₀, …, dXₙ₋₁.
	add(&Schema{Op: "ConcatGrad", MinInputs: 2, MaxInputs: -1, MinOutputs: 1, MaxOutputs: -1, Infer: inferConcatGrad})
	// (dY, X, W) → dX, dW, dB for a 1-D convolution.
	add(&Schema{Op: "ConvGrad", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 3, Infer: inferConvGrad})
	// (dY, dY_h, X, W, R, B, initial_h) → dX, dW, dR, dB, dH₀; dY and dY_h
	// are optional, so no input is required by position.
	add(&Schema{Op: "GRUGrad", MinInputs: 0, MaxInputs: 7, MinOutputs: 1, MaxOutputs: 5, Infer: inferGRUGrad})
	// (X, Seed) → Y, Mask: inverted dropout with a counter-based generator.
	add(&Schema{Op: "DropoutTrain", MinInputs: 2, MaxInputs: 2, MinOutputs: 2, MaxOutputs: 2, Infer: inferLike(0, 0)})

	// Losses reduce to a scalar of the prediction's type.
	for _, op := range []string{"SoftmaxCrossEntropy", "MSELoss", "HuberLoss"} {
		add(&Schema{Op: op, MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferLossScalar})
	}
	// (dLoss, Pred, Target[, Weights]) → dPred.
	for _, op := range []string{"SoftmaxCrossEntropyGrad", "MSELossGrad", "HuberLossGrad"} {
		like(op, 3, 4, 1)
	}

	// Global-norm clipping factor: (G₀, …) → scalar.
	add(&Schema{Op: "GlobalNormScale", MinInputs: 1, MaxInputs: -1, MinOutputs: 1, MaxOutputs: 1, Infer: inferLossScalar})
	// Optimizer updates: (P, G, Hyper, Scale, State…) → P', State'….
	like("SGDUpdate", 3, 5, 0, 0)
	like("AdamUpdate", 3, 6, 0, 0, 0)
	// (P, dRows, Indices, Hyper[, Scale]) → P′: SGD on gathered rows only.
	like("SparseRowSGD", 4, 5, 0)
}

// inferLike gives output i the type of input from[i] (an absent input gives
// an unknown type).
func inferLike(from ...int) InferFunc {
	return func(n *Node, _ int, in []Operand) ([]Type, error) {
		out := make([]Type, len(n.Outputs))
		for i := range out {
			if i < len(from) && from[i] < len(in) && in[from[i]].Present {
				out[i] = in[from[i]].Type
			}
		}
		return out, nil
	}
}

func inferConcatGrad(n *Node, _ int, in []Operand) ([]Type, error) {
	if len(n.Outputs) != len(in)-1 {
		return nil, fmt.Errorf("ConcatGrad: %d outputs for %d concatenated inputs", len(n.Outputs), len(in)-1)
	}
	out := make([]Type, len(n.Outputs))
	for i := range out {
		out[i] = in[i+1].Type
	}
	return out, nil
}

func inferConvGrad(n *Node, _ int, in []Operand) ([]Type, error) {
	out := make([]Type, len(n.Outputs))
	out[0] = in[1].Type
	if len(out) > 1 {
		out[1] = in[2].Type
	}
	if len(out) > 2 {
		w := in[2].Type
		out[2] = Type{DType: w.DType}
		if w.Known && len(w.Shape) > 0 {
			out[2] = Type{DType: w.DType, Shape: []Dim{w.Shape[0]}, Known: true}
		}
	}
	return out, nil
}

func inferLossScalar(n *Node, _ int, in []Operand) ([]Type, error) {
	dt := in[0].Type.DType
	if dt != 0 && dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("%s: want float32 or float64 input, got %v", n.Op, dt)
	}
	return []Type{{DType: dt, Shape: []Dim{}, Known: true}}, nil
}

func inferGRUGrad(n *Node, _ int, in []Operand) ([]Type, error) {
	if len(in) < 5 || !in[2].Present || !in[3].Present || !in[4].Present {
		return nil, fmt.Errorf("GRUGrad needs X, W and R (inputs 2 to 4)")
	}
	out := make([]Type, len(n.Outputs))
	x, w := in[2].Type, in[3].Type
	dt := x.DType
	for i := range out {
		out[i] = Type{DType: dt}
	}
	for i := 0; i < 3 && i < len(out); i++ {
		out[i] = in[2+i].Type
	}
	if len(out) > 3 {
		if len(in) > 5 && in[5].Present {
			out[3] = in[5].Type
		} else if w.Known && len(w.Shape) == 3 && w.Shape[1].IsFixed() {
			out[3] = Type{DType: dt, Shape: []Dim{w.Shape[0], Fixed(2 * w.Shape[1].Size)}, Known: true}
		}
	}
	if len(out) > 4 {
		if len(in) > 6 && in[6].Present {
			out[4] = in[6].Type
		} else if r := in[4].Type; x.Known && r.Known && len(x.Shape) == 3 && len(r.Shape) == 3 {
			out[4] = Type{DType: dt, Shape: []Dim{r.Shape[0], x.Shape[1], r.Shape[2]}, Known: true}
		}
	}
	return out, nil
}
