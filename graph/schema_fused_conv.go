package graph

import "fmt"

// addFusedConvSchemas registers Sextant's FusedConv (SextantDomain): Conv's
// inputs (X, W, optional B), attributes and output, plus the activation
// FusedMatMul and FusedGemm take, applied after the bias: the string
// attribute "activation" (Relu, LeakyRelu, Sigmoid, Tanh, Gelu or GeluTanh;
// absent for none) and, for LeakyRelu, the float "activation_alpha". Fuse
// makes it from a Conv whose output only an activation reads.
func addFusedConvSchemas(add func(*Schema)) {
	add(&Schema{Op: "FusedConv", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferFusedConv})
}

func inferFusedConv(n *Node, opset int, in []Operand) ([]Type, error) {
	switch a := n.Str("activation", ""); a {
	case "", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "GeluTanh":
	default:
		return nil, fmt.Errorf("unsupported fused activation %q", a)
	}
	return inferConv(n, opset, in)
}
