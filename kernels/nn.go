package kernels

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// The neural-network operators: matrix products (matmul.go over gemm.go),
// convolution (conv.go), pooling (pool.go), normalization (norm.go), softmax
// (softmax.go), reductions (reduce.go) and recurrent cells (rnn.go), and
// Sextant's FusedMatMul, FusedGemm and FusedConv, whose activation is
// applied here.
func addNN(add func(string, Factory)) {
	add("MatMul", newMatMul)
	add("FusedMatMul", newMatMul)
	add("Gemm", newGemm)
	add("FusedGemm", newGemm)
	add("Conv", newConv)
	add("FusedConv", newConv)
	add("ConvTranspose", newConvTranspose)
	add("MaxPool", newPool)
	add("AveragePool", newPool)
	add("GlobalAveragePool", newGlobalPool)
	add("GlobalMaxPool", newGlobalPool)
	add("BatchNormalization", newBatchNorm)
	add("LayerNormalization", newLayerNorm)
	add("InstanceNormalization", newInstanceNorm)
	add("MeanVarianceNormalization", newMVN)
	add("Softmax", newSoftmax)
	add("LogSoftmax", newSoftmax)
	for _, op := range graph.ReduceOps {
		add(op, newReduce)
	}
	add("RNN", newRNN)
	add("GRU", newRNN)
	add("LSTM", newRNN)
}

// floatElem is the element types of the float-only kernels.
type floatElem interface{ ~float32 | ~float64 }

// inputAt returns in[i], or nil when the node omits it.
func inputAt(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// checkOut verifies that the engine's output shape for out[i] matches what
// the kernel computes (nil outputs are skipped).
func checkOut(out []*tensor.Tensor, i int, want tensor.Shape) error {
	if i >= len(out) || out[i] == nil {
		return nil
	}
	if !out[i].Shape.Equal(want) {
		return fmt.Errorf("%w: output %d has shape %v, want %v", tensor.ErrShape, i, out[i].Shape, want)
	}
	return nil
}

// scratchLayout hands out 64-byte-aligned sections of a Step's scratch.
type scratchLayout struct{ size int }

// take reserves n bytes and returns their offset.
func (s *scratchLayout) take(n int) int {
	off := s.size
	s.size += (n + tensor.Alignment - 1) &^ (tensor.Alignment - 1)
	return off
}

// section returns n elements of T at byte offset off of scratch.
func section[T tensor.Elem](scratch []byte, off, n int) []T {
	if n == 0 {
		return nil
	}
	var z T
	return tensor.Cast[T](scratch[off : off+n*int(unsafe.Sizeof(z))])
}

// activation is the activation function a fused op or a recurrent cell
// applies elementwise.
type activation struct {
	kind        actKind
	alpha, beta float64
}

type actKind uint8

const (
	actNone actKind = iota
	actRelu
	actLeakyRelu
	actSigmoid
	actTanh
	actGelu
	actGeluTanh
	actAffine
	actThresholdedRelu
	actScaledTanh
	actHardSigmoid
	actElu
	actSoftsign
	actSoftplus
)

// newActivation resolves an activation by its ONNX op name. alpha and beta
// are used where the activation takes them; hasAlpha/hasBeta false picks
// the ONNX operator's default (ONNX Operators.md, each operator's attributes).
func newActivation(name string, alpha, beta float64, hasAlpha, hasBeta bool) (activation, error) {
	defA := func(d float64) float64 {
		if hasAlpha {
			return alpha
		}
		return d
	}
	defB := func(d float64) float64 {
		if hasBeta {
			return beta
		}
		return d
	}
	switch name {
	case "", "None":
		return activation{kind: actNone}, nil
	case "Relu":
		return activation{kind: actRelu}, nil
	case "LeakyRelu":
		return activation{kind: actLeakyRelu, alpha: defA(0.01)}, nil
	case "Sigmoid":
		return activation{kind: actSigmoid}, nil
	case "Tanh":
		return activation{kind: actTanh}, nil
	case "Gelu":
		return activation{kind: actGelu}, nil
	case "GeluTanh":
		return activation{kind: actGeluTanh}, nil
	case "Affine":
		return activation{kind: actAffine, alpha: defA(1), beta: defB(0)}, nil
	case "ThresholdedRelu":
		return activation{kind: actThresholdedRelu, alpha: defA(1)}, nil
	case "ScaledTanh":
		return activation{kind: actScaledTanh, alpha: defA(1), beta: defB(1)}, nil
	case "HardSigmoid":
		return activation{kind: actHardSigmoid, alpha: defA(0.2), beta: defB(0.5)}, nil
	case "Elu":
		return activation{kind: actElu, alpha: defA(1)}, nil
	case "Softsign":
		return activation{kind: actSoftsign}, nil
	case "Softplus":
		return activation{kind: actSoftplus}, nil
	}
	return activation{}, fmt.Errorf("unknown activation %q", name)
}

// fusedActivation reads the activation and activation_alpha attributes of
// FusedMatMul and FusedGemm.
func fusedActivation(n *graph.Node) (activation, error) {
	name := n.Str("activation", "")
	switch name {
	case "", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "GeluTanh":
	default:
		return activation{}, fmt.Errorf("unsupported fused activation %q", name)
	}
	return newActivation(name, float64(n.Float("activation_alpha", 0.01)), 0, true, false)
}

// eval applies the activation to one value.
func (a activation) eval(x float64) float64 {
	switch a.kind {
	case actRelu:
		return max(x, 0)
	case actLeakyRelu:
		if x < 0 {
			return a.alpha * x
		}
		return x
	case actSigmoid:
		return sigmoid64(x)
	case actTanh:
		return math.Tanh(x)
	case actGelu:
		// GELU(x) = x·Φ(x) (Hendrycks & Gimpel, arXiv:1606.08415).
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	case actGeluTanh:
		// The tanh approximation from the same paper.
		const c = 0.7978845608028654 // sqrt(2/π)
		return 0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x)))
	case actAffine:
		return a.alpha*x + a.beta
	case actThresholdedRelu:
		if x > a.alpha {
			return x
		}
		return 0
	case actScaledTanh:
		return a.alpha * math.Tanh(a.beta*x)
	case actHardSigmoid:
		return max(0, min(1, a.alpha*x+a.beta))
	case actElu:
		if x < 0 {
			return a.alpha * (math.Exp(x) - 1)
		}
		return x
	case actSoftsign:
		return x / (1 + math.Abs(x))
	case actSoftplus:
		return math.Log1p(math.Exp(-math.Abs(x))) + max(x, 0)
	}
	return x
}

func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// applyAct applies the activation a to x in place.
func applyAct[T floatElem](a activation, x []T) {
	switch a.kind {
	case actNone:
	case actRelu:
		for i, v := range x {
			if v < 0 {
				x[i] = 0
			}
		}
	case actLeakyRelu:
		s := T(a.alpha)
		for i, v := range x {
			if v < 0 {
				x[i] = v * s
			}
		}
	default:
		for i, v := range x {
			x[i] = T(a.eval(float64(v)))
		}
	}
}

// applyAct32 applies a in place to float32 x: Relu and LeakyRelu as
// loops, Sigmoid, Tanh, Gelu and GeluTanh on the vector kernels (package
// vmath, whose error bounds are far below float32 GEMM rounding), the rest
// through float64 per element.
func applyAct32(a activation, x []float32) {
	switch a.kind {
	case actNone:
	case actRelu:
		reluRow32(x, x)
	case actSigmoid:
		vecMath.Sigmoid(x, x)
	case actTanh:
		vecMath.Tanh(x, x)
	case actGelu:
		vecMath.Gelu(x, x)
	case actGeluTanh:
		vecGeluTanhRow(x, x)
	default:
		applyAct(a, x)
	}
}
