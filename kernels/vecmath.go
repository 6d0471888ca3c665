package kernels

import "github.com/sextant-ml/sextant/kernels/vmath"

// vecMath is the float32 vector-math kernel set the kernels use for
// exponentials, sigmoid, tanh, erf and GELU (package vmath; the fastest set
// the CPU runs, pure Go under the purego build tag).
var vecMath = vmath.Best()

// actVec32 applies a in place to x in float32: the vector kernels for
// Sigmoid and Tanh, a loop for Relu, and float64 math per element for the
// other activations.
func actVec32(a activation, x []float32) {
	switch a.kind {
	case actSigmoid:
		vecMath.Sigmoid(x, x)
	case actTanh:
		vecMath.Tanh(x, x)
	case actRelu:
		for i, v := range x {
			x[i] = max(v, 0)
		}
	case actNone:
	default:
		for i, v := range x {
			x[i] = float32(a.eval(float64(v)))
		}
	}
}

// clip32 clamps x to [−c, c] in place when c > 0 (the RNN clip attribute).
func clip32(x []float32, c float32) {
	if c <= 0 {
		return
	}
	for i, v := range x {
		x[i] = max(-c, min(c, v))
	}
}

// add32 sets d[i] = a[i] + b[i].
func add32(d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i]
	}
}

// Float32 rows of the elementwise operators (activation.go) on the vector
// kernels.

func vecExpRow(d, a []float32)     { vecMath.Exp(d, a) }
func vecSigmoidRow(d, a []float32) { vecMath.Sigmoid(d, a) }
func vecTanhRow(d, a []float32)    { vecMath.Tanh(d, a) }
func vecErfRow(d, a []float32)     { vecMath.Erf(d, a) }
func vecGeluRow(d, a []float32)    { vecMath.Gelu(d, a) }

// vecGeluTanhRow is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as
// the identical x·σ(2·√(2/π)·(x + 0.044715·x³)) (½(1 + tanh y) = σ(2y)),
// which keeps its relative accuracy for negative x. It works through a
// stack buffer so that d may be a.
func vecGeluTanhRow(d, a []float32) {
	const c = 2 * 0.7978845608028654 // 2·√(2/π)
	var buf [256]float32
	a = a[:len(d)]
	for len(d) > 0 {
		n := min(len(d), len(buf))
		b := buf[:n]
		for i, x := range a[:n] {
			b[i] = c * (x + 0.044715*x*x*x)
		}
		vecMath.Sigmoid(b, b)
		for i, s := range b {
			d[i] = a[i] * s
		}
		d, a = d[n:], a[n:]
	}
}
