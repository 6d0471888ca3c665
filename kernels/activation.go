package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Float-only unary operators. In float32 (and the half types, computed in
// float32), Exp, Sigmoid, Tanh, Erf and Gelu run on the vector kernels of
// package vmath (vecmath.go), within 2e-7 relative (Gelu 1.2e-6) of exact;
// in float64, and for Sqrt and Log, the math package computes in float64.
// Piecewise-linear ones (LeakyRelu, HardSigmoid, HardSwish) compute in the
// element type, as NumPy does for the ONNX reference outputs.

// floatFns is one operator's row function instantiated for both float
// widths; Float16 and BFloat16 use f32.
type floatFns struct {
	f32 func(d, a []float32)
	f64 func(d, a []float64)
}

func floatPair(f32 func(d, a []float32), f64 func(d, a []float64)) floatFns {
	return floatFns{f32: f32, f64: f64}
}

func addActivations(add func(string, Factory)) {
	fixed := map[string]floatFns{
		"Sqrt":    floatPair(sqrtRow[float32], sqrtRow[float64]),
		"Exp":     floatPair(vecExpRow, expRow[float64]),
		"Log":     floatPair(logRow[float32], logRow[float64]),
		"Sigmoid": floatPair(vecSigmoidRow, sigmoidRow[float64]),
		"Tanh":    floatPair(vecTanhRow, tanhRow[float64]),
		"Erf":     floatPair(vecErfRow, erfRow[float64]),
	}
	for op, fns := range fixed {
		add(op, newFloatUnary(func(*graph.Node) (floatFns, error) { return fns, nil }))
	}
	add("LeakyRelu", newFloatUnary(func(n *graph.Node) (floatFns, error) {
		alpha := n.Float("alpha", 0.01)
		return floatFns{
			f32: func(d, a []float32) { leakyReluRow(d, a, alpha) },
			f64: func(d, a []float64) { leakyReluRow(d, a, float64(alpha)) },
		}, nil
	}))
	add("HardSigmoid", newFloatUnary(func(n *graph.Node) (floatFns, error) {
		alpha, beta := n.Float("alpha", 0.2), n.Float("beta", 0.5)
		return floatFns{
			f32: func(d, a []float32) { hardSigmoidRow(d, a, alpha, beta) },
			f64: func(d, a []float64) { hardSigmoidRow(d, a, float64(alpha), float64(beta)) },
		}, nil
	}))
	add("HardSwish", newFloatUnary(func(*graph.Node) (floatFns, error) {
		return floatPair(hardSwishRow[float32], hardSwishRow[float64]), nil
	}))
	add("Gelu", newFloatUnary(func(n *graph.Node) (floatFns, error) {
		switch a := n.Str("approximate", "none"); a {
		case "none":
			return floatPair(vecGeluRow, geluRow[float64]), nil
		case "tanh":
			return floatPair(vecGeluTanhRow, geluTanhRow[float64]), nil
		default:
			return floatFns{}, fmt.Errorf("Gelu: approximate %q, want \"none\" or \"tanh\"", a)
		}
	}))
}

// newFloatUnary makes the factory of a float-only unary operator whose row
// functions mk builds from the node's attributes.
func newFloatUnary(mk func(*graph.Node) (floatFns, error)) Factory {
	return func(n *graph.Node, opset int) (Kernel, error) {
		fns, err := mk(n)
		if err != nil {
			return nil, err
		}
		return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
			if err := checkUnary(n.Op, in, out); err != nil {
				return Step{}, err
			}
			switch dt := in[0].DType; dt {
			case tensor.Float32:
				return unaryStep(fns.f32), nil
			case tensor.Float64:
				return unaryStep(fns.f64), nil
			case tensor.Float16, tensor.BFloat16:
				return halfUnaryStep(fns.f32, dt == tensor.BFloat16), nil
			default:
				return Step{}, unsupportedDType(n.Op, dt)
			}
		}), nil
	}
}

func sqrtRow[T ewFloat](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		d[i] = T(math.Sqrt(float64(x)))
	}
}

func expRow[T ewFloat](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		d[i] = T(math.Exp(float64(x)))
	}
}

func logRow[T ewFloat](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		d[i] = T(math.Log(float64(x)))
	}
}

// sigmoidRow computes 1/(1+e^-x) without overflow: for x < 0 it uses
// e^x/(1+e^x), so neither branch exponentiates a large positive number.
func sigmoidRow[T ewFloat](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		v := float64(x)
		if v >= 0 {
			v = 1 / (1 + math.Exp(-v))
		} else {
			e := math.Exp(v)
			v = e / (1 + e)
		}
		d[i] = T(v)
	}
}

func tanhRow[T ewFloat](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		d[i] = T(math.Tanh(float64(x)))
	}
}

func erfRow[T ewFloat](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		d[i] = T(math.Erf(float64(x)))
	}
}

func leakyReluRow[T ewFloat](d, a []T, alpha T) {
	a = a[:len(d)]
	for i, x := range a {
		if x < 0 {
			x *= alpha
		}
		d[i] = x
	}
}

// hardSigmoidRow is max(0, min(1, alpha·x + beta)).
func hardSigmoidRow[T ewFloat](d, a []T, alpha, beta T) {
	a = a[:len(d)]
	for i, x := range a {
		v := alpha*x + beta
		if v < 0 {
			v = 0
		}
		if v > 1 {
			v = 1
		}
		d[i] = v
	}
}

// hardSwishRow is x · HardSigmoid(x) with alpha 1/6 and beta 0.5 (ONNX
// HardSwish-14).
func hardSwishRow[T ewFloat](d, a []T) {
	const alpha, beta = 1.0 / 6, 0.5
	a = a[:len(d)]
	for i, x := range a {
		v := T(alpha)*x + T(beta)
		if v < 0 {
			v = 0
		}
		if v > 1 {
			v = 1
		}
		d[i] = x * v
	}
}

// geluRow is x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (ONNX Gelu-20, approximate
// "none").
func geluRow[T ewFloat](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		v := float64(x)
		d[i] = T(0.5 * v * (1 + math.Erf(v*(1/math.Sqrt2))))
	}
}

// geluTanhRow is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (ONNX Gelu-20,
// approximate "tanh").
func geluTanhRow[T ewFloat](d, a []T) {
	c := math.Sqrt(2 / math.Pi)
	a = a[:len(d)]
	for i, x := range a {
		v := float64(x)
		d[i] = T(0.5 * v * (1 + math.Tanh(c*(v+0.044715*v*v*v))))
	}
}
