package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Training kernels (domain ai.sextant): gradients of the pointwise
// activations, inverted dropout, and ZerosLike. The derivative rules are the
// textbook ones; Gelu's follow its definitions in ONNX Operators.md Gelu-20.

// addGrad registers every training kernel (this file and grad_*.go).
func addGrad(add func(string, Factory)) {
	pointwise := map[string]func(n *graph.Node) (func(dy, a float64) float64, error){
		// relu'(x) = [x > 0], as PyTorch's threshold_backward.
		"ReluGrad": func(*graph.Node) (func(dy, a float64) float64, error) {
			return func(dy, x float64) float64 {
				if x > 0 {
					return dy
				}
				return 0
			}, nil
		},
		"LeakyReluGrad": func(n *graph.Node) (func(dy, a float64) float64, error) {
			alpha := float64(n.Float("alpha", 0.01))
			return func(dy, x float64) float64 {
				if x > 0 {
					return dy
				}
				return alpha * dy
			}, nil
		},
		// Input 1 is the activation's output y: σ' = y(1−y), tanh' = 1−y².
		"SigmoidGrad": func(*graph.Node) (func(dy, a float64) float64, error) {
			return func(dy, y float64) float64 { return dy * y * (1 - y) }, nil
		},
		"TanhGrad": func(*graph.Node) (func(dy, a float64) float64, error) {
			return func(dy, y float64) float64 { return dy * (1 - y*y) }, nil
		},
		// |x|' = sign(x) (0 at 0, as torch.sign); erf'(x) = 2/√π·exp(−x²).
		"AbsGrad": func(*graph.Node) (func(dy, a float64) float64, error) {
			return func(dy, x float64) float64 {
				switch {
				case x > 0:
					return dy
				case x < 0:
					return -dy
				}
				return 0
			}, nil
		},
		"ErfGrad": func(*graph.Node) (func(dy, a float64) float64, error) {
			return func(dy, x float64) float64 { return dy * 2 / math.SqrtPi * math.Exp(-x*x) }, nil
		},
		"GeluGrad": func(n *graph.Node) (func(dy, a float64) float64, error) {
			switch a := n.Str("approximate", "none"); a {
			case "none":
				return geluGradExact, nil
			case "tanh":
				return geluGradTanh, nil
			default:
				return nil, fmt.Errorf("GeluGrad: approximate %q", a)
			}
		},
	}
	for op, mk := range pointwise {
		add(op, newPointwiseGrad(op, mk))
	}
	add("DropoutTrain", newDropoutTrain)
	add("ConvGrad", newConvGrad)
	add("GRUGrad", newGRUGrad)
	add("ZerosLike", func(n *graph.Node, opset int) (Kernel, error) {
		return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
			if err := checkOut(out, 0, in[0].Shape); err != nil {
				return Step{}, err
			}
			return Step{Run: func(_, out []*tensor.Tensor, _ []byte) error {
				clear(out[0].Raw)
				return nil
			}}, nil
		}), nil
	})
	addGradAxis(add)
	addGradShape(add)
	addGradLoss(add)
	addGradOptim(add)
}

// geluGradExact is d/dx x·Φ(x) = Φ(x) + x·φ(x).
func geluGradExact(dy, x float64) float64 {
	cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
	pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
	return dy * (cdf + x*pdf)
}

// geluGradTanh differentiates 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func geluGradTanh(dy, x float64) float64 {
	const c = 0.7978845608028654 // √(2/π)
	u := c * (x + 0.044715*x*x*x)
	t := math.Tanh(u)
	du := c * (1 + 3*0.044715*x*x)
	return dy * (0.5*(1+t) + 0.5*x*(1-t*t)*du)
}

// floatStep picks the float32 or float64 Run of a kernel.
func floatStep(op string, dt tensor.DType, scratch int, f32, f64 func(in, out []*tensor.Tensor, scratch []byte) error) (Step, error) {
	switch dt {
	case tensor.Float32:
		return Step{Scratch: scratch, Run: f32}, nil
	case tensor.Float64:
		return Step{Scratch: scratch, Run: f64}, nil
	}
	return Step{}, unsupportedDType(op, dt)
}

// newPointwiseGrad makes the kernel of a (dY, A) → dX derivative whose
// per-element rule mk builds from the node.
func newPointwiseGrad(op string, mk func(n *graph.Node) (func(dy, a float64) float64, error)) Factory {
	return func(n *graph.Node, opset int) (Kernel, error) {
		f, err := mk(n)
		if err != nil {
			return nil, err
		}
		return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
			dy, a := in[0], in[1]
			if !dy.Shape.Equal(a.Shape) || dy.DType != a.DType {
				return Step{}, fmt.Errorf("%w: %s operands %v and %v", tensor.ErrShape, op, dy, a)
			}
			if err := checkOut(out, 0, a.Shape); err != nil {
				return Step{}, err
			}
			if op == "ReluGrad" { // the hot one in MLPs: no indirect call
				return floatStep(op, a.DType, 0,
					func(in, out []*tensor.Tensor, _ []byte) error { reluGradRun[float32](in, out); return nil },
					func(in, out []*tensor.Tensor, _ []byte) error { reluGradRun[float64](in, out); return nil })
			}
			return floatStep(op, a.DType, 0,
				func(in, out []*tensor.Tensor, _ []byte) error { pointwiseGradRun[float32](f, in, out); return nil },
				func(in, out []*tensor.Tensor, _ []byte) error { pointwiseGradRun[float64](f, in, out); return nil })
		}), nil
	}
}

func reluGradRun[T floatElem](in, out []*tensor.Tensor) {
	dy, x, dx := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	x = x[:len(dx)]
	dy = dy[:len(dx)]
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

func pointwiseGradRun[T floatElem](f func(dy, a float64) float64, in, out []*tensor.Tensor) {
	dy, a, dx := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	for i := range dx {
		dx[i] = T(f(float64(dy[i]), float64(a[i])))
	}
}

// newDropoutTrain is inverted dropout for training: each element is kept
// with probability 1−ratio and scaled by 1/(1−ratio). Mask (output 1) holds
// that factor or 0 per element, so the gradient is dY·Mask. The draws come
// from a counter-based generator (SplitMix64 of seed and element index), so
// a run is a pure function of X and Seed (input 1, an int64 scalar the
// trainer advances each step) and needs no mutable kernel state. The seed
// attribute salts the draws so the dropout nodes of one graph differ.
func newDropoutTrain(n *graph.Node, opset int) (Kernel, error) {
	ratio := float64(n.Float("ratio", 0.5))
	salt := uint64(n.Int("seed", 0)) * 0xd1b54a32d192ed03
	if ratio < 0 || ratio >= 1 {
		return nil, fmt.Errorf("DropoutTrain: ratio %v not in [0, 1)", ratio)
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x, seed := in[0], in[1]
		if seed.DType != tensor.Int64 || seed.Len() != 1 {
			return Step{}, fmt.Errorf("%w: DropoutTrain seed must be one int64, got %v", tensor.ErrShape, seed)
		}
		if err := checkOut(out, 0, x.Shape); err != nil {
			return Step{}, err
		}
		if err := checkOut(out, 1, x.Shape); err != nil {
			return Step{}, err
		}
		return floatStep("DropoutTrain", x.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { dropoutRun[float32](ratio, salt, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { dropoutRun[float64](ratio, salt, in, out); return nil })
	}), nil
}

func dropoutRun[T floatElem](ratio float64, salt uint64, in, out []*tensor.Tensor) {
	x := tensor.Data[T](in[0])
	seed := uint64(tensor.Data[int64](in[1])[0]) ^ salt
	keep := T(1 / (1 - ratio))
	var y, mask []T
	if out[0] != nil {
		y = tensor.Data[T](out[0])
	}
	if out[1] != nil {
		mask = tensor.Data[T](out[1])
	}
	for i, v := range x {
		m := keep
		if ratio > 0 && DropoutUniform(seed, uint64(i)) < ratio {
			m = 0
		}
		if y != nil {
			y[i] = v * m
		}
		if mask != nil {
			mask[i] = m
		}
	}
}

// DropoutUniform is the uniform draw in [0, 1) DropoutTrain uses for element
// i under seed: SplitMix64 (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014) of seed·φ + i, top 53 bits.
func DropoutUniform(seed, i uint64) float64 {
	z := seed*0x9e3779b97f4a7c15 + i + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
