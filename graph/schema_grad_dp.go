package graph

import "fmt"

// Schemas of the DP-SGD operators (domain SextantDomain) the train package
// emits for per-example gradient clipping; kernels in kernels/grad_dp*.go.
// An example is one index along a batch axis (attribute "axis" where it is
// not 0); per-example quantities are 1-D over that axis.
func addGradDPSchemas(add func(*Schema)) {
	// (dY, C[N]) → dY with slice i of the batch axis scaled by C[i]
	// (times the batch size when rows_factor is 1).
	add(&Schema{Op: "DPRowScale", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: inferLike(0)})
	// (A, dY) → per-example squared norms of the weight gradient Aᵢᵀ·dYᵢ
	// of a row-wise product Y = A·W, and of the bias gradient Σₜ dYᵢₜ.
	add(&Schema{Op: "DPLinearNorms", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 2, Infer: inferDPNorms(1)})
	// (G, P) → per-example squared norms of Gᵢ summed down to P's shape.
	add(&Schema{Op: "DPReduceNorms", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: inferDPNorms(0)})
	// (dY, X) → per-example squared norms of LayerNormalization's scale and
	// bias gradients.
	add(&Schema{Op: "DPLayerNormNorms", MinInputs: 2, MaxInputs: 2, MinOutputs: 2, MaxOutputs: 2, Infer: inferDPNorms(0)})
	// (dY, Indices, Table) → per-example squared norms of an embedding table's
	// gradient (Gather along axis 0).
	add(&Schema{Op: "DPGatherNorms", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferDPNorms(1)})
	// (dY, dY_h, X, W, R, B, initial_h) → per-example squared norms of a
	// GRU's W, R and B gradients (batch axis 1 of X, attribute axis = 1);
	// dY and dY_h are optional, so no input is required by position.
	add(&Schema{Op: "DPGRUNorms", MinInputs: 0, MaxInputs: 7, MinOutputs: 1, MaxOutputs: 3, Infer: inferDPNorms(2)})
	// (S₀[N], S₁[N], …) → C[N] = min(1, clip/(√ΣSₖ + 1e-6)).
	add(&Schema{Op: "DPClipFactor", MinInputs: 1, MaxInputs: -1, MinOutputs: 1, MaxOutputs: 1, Infer: inferLike(0)})
}

// inferDPNorms types every output as a 1-D vector along input from's batch
// axis, of input 0's dtype (input from's when input 0 is absent).
func inferDPNorms(from int) InferFunc {
	return func(n *Node, _ int, in []Operand) ([]Type, error) {
		src := in[from].Type
		out := make([]Type, len(n.Outputs))
		t := Type{DType: in[0].Type.DType}
		if !in[0].Present {
			t.DType = src.DType
		}
		if src.Known {
			axis := int(n.Int("axis", 0))
			if axis < 0 || axis >= len(src.Shape) {
				return nil, fmt.Errorf("%s: batch axis %d of a rank-%d input", n.Op, axis, len(src.Shape))
			}
			t.Shape, t.Known = []Dim{src.Shape[axis]}, true
		}
		for i := range out {
			out[i] = t
		}
		return out, nil
	}
}
