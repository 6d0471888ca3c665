package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

func addConvSchemas(add func(*Schema)) {
	add(&Schema{Op: "Conv", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferConv})
	add(&Schema{Op: "ConvTranspose", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferConvTranspose})
	add(&Schema{Op: "MaxPool", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 2, Infer: inferPool})
	add(&Schema{Op: "AveragePool", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Infer: inferPool})
	for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		add(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Infer: inferGlobalPool})
	}
}

// Window is the sliding-window geometry of a Conv or pooling node over its
// spatial axes, from its kernel_shape, strides, dilations, pads, auto_pad and
// ceil_mode attributes (ONNX Operators.md, Conv and MaxPool).
type Window struct {
	Kernel, Strides, Dilations []int
	// Pads are the explicit begin pads then end pads (auto_pad NOTSET).
	Pads    []int
	AutoPad string
	Ceil    bool
}

// NewWindow reads a node's window attributes for the given spatial rank;
// kernel is the kernel extent (from kernel_shape, or from Conv's weights).
func NewWindow(n *Node, kernel []int) (*Window, error) {
	r := len(kernel)
	w := &Window{Kernel: kernel, AutoPad: n.Str("auto_pad", "NOTSET"), Ceil: n.Int("ceil_mode", 0) != 0}
	get := func(name string, want, def int) ([]int, error) {
		v, ok := n.Ints(name)
		if !ok {
			out := make([]int, want)
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		if len(v) != want {
			return nil, fmt.Errorf("%s has %d values, want %d", name, len(v), want)
		}
		out := make([]int, want)
		for i, x := range v {
			if x < 0 || (def == 1 && x == 0) {
				return nil, fmt.Errorf("%s: invalid value %d", name, x)
			}
			out[i] = int(x)
		}
		return out, nil
	}
	var err error
	if w.Strides, err = get("strides", r, 1); err != nil {
		return nil, err
	}
	if w.Dilations, err = get("dilations", r, 1); err != nil {
		return nil, err
	}
	if w.Pads, err = get("pads", 2*r, 0); err != nil {
		return nil, err
	}
	for _, k := range kernel {
		if k <= 0 {
			return nil, fmt.Errorf("invalid kernel shape %v", kernel)
		}
	}
	switch w.AutoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return nil, fmt.Errorf("unknown auto_pad %q", w.AutoPad)
	}
	return w, nil
}

// Resolve returns, for input spatial size in along axis i (negative when
// unknown), the output size and the begin and end pads (-1 when unknown).
func (w *Window) Resolve(i, in int) (out, padBegin, padEnd int, err error) {
	if in < 0 {
		return -1, -1, -1, nil
	}
	k := (w.Kernel[i]-1)*w.Dilations[i] + 1
	s := w.Strides[i]
	switch w.AutoPad {
	case "SAME_UPPER", "SAME_LOWER":
		out = (in + s - 1) / s
		total := max(0, (out-1)*s+k-in)
		padBegin = total / 2
		if w.AutoPad == "SAME_LOWER" {
			padBegin = total - total/2
		}
		return out, padBegin, total - padBegin, nil
	case "VALID":
		padBegin, padEnd = 0, 0
	default:
		padBegin, padEnd = w.Pads[i], w.Pads[i+len(w.Kernel)]
	}
	span := in + padBegin + padEnd - k
	if span < 0 {
		return 0, 0, 0, fmt.Errorf("window of %d exceeds padded input %d on spatial axis %d", k, in+padBegin+padEnd, i)
	}
	out = span/s + 1
	if w.Ceil {
		out = (span+s-1)/s + 1
		// A window must start inside the input or its begin padding
		// (as PyTorch and ONNX Runtime define ceil_mode).
		if (out-1)*s >= in+padBegin {
			out--
		}
	}
	return out, padBegin, padEnd, nil
}

// inferWindowed computes [N, C, out...] for a Conv or pool.
func inferWindowed(in Operand, c Dim, w *Window) (Type, error) {
	x := in.Type
	dims := []Dim{x.Shape[0], c}
	for i, d := range x.Shape[2:] {
		size := -1
		if d.IsFixed() {
			size = int(d.Size)
		}
		o, _, _, err := w.Resolve(i, size)
		if err != nil {
			return Type{}, err
		}
		if o < 0 {
			dims = append(dims, Unknown())
		} else {
			dims = append(dims, Fixed(int64(o)))
		}
	}
	return nnKnown(in, dims), nil
}

func inferConv(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := nnFloatInput(in, 0); err != nil {
		return nil, err
	}
	x, wt := in[0].Type, in[1].Type
	if !x.Known || !wt.Known {
		return nnOuts(n, Type{DType: x.DType}), nil
	}
	if len(x.Shape) < 3 || len(wt.Shape) != len(x.Shape) {
		return nil, fmt.Errorf("want X of rank >= 3 and W of the same rank, got %v and %v", x, wt)
	}
	kernel := make([]int, len(x.Shape)-2)
	ks, hasKS := n.Ints("kernel_shape")
	if hasKS && len(ks) != len(kernel) {
		return nil, fmt.Errorf("kernel_shape %v does not match the input's rank", ks)
	}
	for i := range kernel {
		d := wt.Shape[2+i]
		switch {
		case hasKS:
			kernel[i] = int(ks[i])
			if err := nnSameDim("kernel_shape vs W", Fixed(ks[i]), d); err != nil {
				return nil, err
			}
		case d.IsFixed():
			kernel[i] = int(d.Size)
		default:
			return nnOuts(n, Type{DType: x.DType}), nil
		}
	}
	group := n.Int("group", 1)
	if group < 1 {
		return nil, fmt.Errorf("invalid group %d", group)
	}
	if c, m := x.Shape[1], wt.Shape[1]; c.IsFixed() && m.IsFixed() && c.Size != m.Size*group {
		return nil, fmt.Errorf("input has %d channels, W expects %d×%d groups", c.Size, m.Size, group)
	}
	if m := wt.Shape[0]; m.IsFixed() && m.Size%group != 0 {
		return nil, fmt.Errorf("%d output channels not divisible by group %d", m.Size, group)
	}
	if len(in) > 2 && in[2].Present && in[2].Type.Known {
		if b := in[2].Type.Shape; len(b) != 1 {
			return nil, fmt.Errorf("bias must be 1-D, got %v", in[2].Type)
		} else if err := nnSameDim("bias length", b[0], wt.Shape[0]); err != nil {
			return nil, err
		}
	}
	w, err := NewWindow(n, kernel)
	if err != nil {
		return nil, err
	}
	t, err := inferWindowed(in[0], wt.Shape[0], w)
	if err != nil {
		return nil, err
	}
	return nnOuts(n, t), nil
}

func inferPool(n *Node, opset int, in []Operand) ([]Type, error) {
	x := in[0].Type
	if !x.Known {
		return nnOuts(n, Type{DType: x.DType}, Type{DType: tensor.Int64}), nil
	}
	if len(x.Shape) < 3 {
		return nil, fmt.Errorf("input must have rank >= 3, got %v", x)
	}
	ks, ok := n.Ints("kernel_shape")
	if !ok || len(ks) != len(x.Shape)-2 {
		return nil, fmt.Errorf("kernel_shape %v does not match input %v", ks, x)
	}
	kernel := make([]int, len(ks))
	for i, k := range ks {
		kernel[i] = int(k)
	}
	if n.Op == "MaxPool" && n.Int("storage_order", 0) > 1 {
		return nil, fmt.Errorf("invalid storage_order %d", n.Int("storage_order", 0))
	}
	w, err := NewWindow(n, kernel)
	if err != nil {
		return nil, err
	}
	t, err := inferWindowed(in[0], x.Shape[1], w)
	if err != nil {
		return nil, err
	}
	idx := t
	idx.Shape = append([]Dim{}, t.Shape...)
	idx.DType = tensor.Int64
	return nnOuts(n, t, idx), nil
}

func inferGlobalPool(n *Node, opset int, in []Operand) ([]Type, error) {
	x := in[0].Type
	if !x.Known {
		return nnOuts(n, Type{DType: x.DType}), nil
	}
	if len(x.Shape) < 3 {
		return nil, fmt.Errorf("input must have rank >= 3, got %v", x)
	}
	dims := append([]Dim{}, x.Shape[:2]...)
	for range x.Shape[2:] {
		dims = append(dims, Fixed(1))
	}
	return nnOuts(n, nnKnown(in[0], dims)), nil
}

func inferConvTranspose(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := nnFloatInput(in, 0); err != nil {
		return nil, err
	}
	x, wt := in[0].Type, in[1].Type
	if !x.Known || !wt.Known {
		return nnOuts(n, Type{DType: x.DType}), nil
	}
	if len(x.Shape) < 3 || len(wt.Shape) != len(x.Shape) {
		return nil, fmt.Errorf("want X of rank >= 3 and W of the same rank, got %v and %v", x, wt)
	}
	kernel := make([]int, len(x.Shape)-2)
	for i := range kernel {
		d := wt.Shape[2+i]
		if !d.IsFixed() {
			return nnOuts(n, Type{DType: x.DType}), nil
		}
		kernel[i] = int(d.Size)
	}
	group := n.Int("group", 1)
	if group < 1 {
		return nil, fmt.Errorf("invalid group %d", group)
	}
	if err := nnSameDim("W input channels", wt.Shape[0], x.Shape[1]); err != nil {
		return nil, err
	}
	m := Unknown()
	if wt.Shape[1].IsFixed() {
		m = Fixed(wt.Shape[1].Size * group)
	}
	w, err := NewWindow(n, kernel)
	if err != nil {
		return nil, err
	}
	dims := []Dim{x.Shape[0], m}
	for i, d := range x.Shape[2:] {
		if !d.IsFixed() {
			dims = append(dims, Unknown())
			continue
		}
		o, _, _, err := ConvTransposeDim(n, w, i, int(d.Size))
		if err != nil {
			return nil, err
		}
		dims = append(dims, Fixed(int64(o)))
	}
	return nnOuts(n, nnKnown(in[0], dims)), nil
}

// ConvTransposeDim resolves ConvTranspose's output size and begin/end pads
// along spatial axis i for input size in (ONNX Operators.md
// ConvTranspose-11): out = s·(in − 1) + output_padding + (k − 1)·d + 1 −
// pads, unless output_shape or auto_pad SAME_* fixes the output size (to
// output_shape, or in·s), in which case the total padding is derived from it,
// the odd unit at the end for SAME_UPPER and at the beginning otherwise, as
// the spec's formulas say (the backend test convtranspose_autopad_same
// checks it).
func ConvTransposeDim(n *Node, w *Window, i, in int) (out, padBegin, padEnd int, err error) {
	r := len(w.Kernel)
	adj := 0
	if op, ok := n.Ints("output_padding"); ok {
		if len(op) != r {
			return 0, 0, 0, fmt.Errorf("output_padding has %d values, want %d", len(op), r)
		}
		adj = int(op[i])
	}
	s, k := w.Strides[i], (w.Kernel[i]-1)*w.Dilations[i]+1
	full := s*(in-1) + adj + k
	target := -1
	if os, ok := n.Ints("output_shape"); ok {
		switch len(os) {
		case r:
			target = int(os[i])
		case r + 2:
			target = int(os[2+i])
		default:
			return 0, 0, 0, fmt.Errorf("output_shape has %d values, want %d", len(os), r)
		}
	} else if w.AutoPad == "SAME_UPPER" || w.AutoPad == "SAME_LOWER" {
		target = in * s
	}
	if target >= 0 {
		total := max(0, full-target)
		if w.AutoPad == "SAME_UPPER" {
			return target, total / 2, total - total/2, nil
		}
		return target, total - total/2, total / 2, nil
	}
	if w.AutoPad == "NOTSET" {
		padBegin, padEnd = w.Pads[i], w.Pads[i+r]
	}
	out = full - padBegin - padEnd
	if out < 0 {
		return 0, 0, 0, fmt.Errorf("negative output size on spatial axis %d", i)
	}
	return out, padBegin, padEnd, nil
}
