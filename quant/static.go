package quant

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// StaticOptions configure Static.
type StaticOptions struct {
	// Activations is the activations' type: tensor.Uint8 (asymmetric, with
	// a zero point; the default) or tensor.Int8 (symmetric, zero point 0).
	Activations tensor.DType
}

// actParams are one activation's quantization parameters.
type actParams struct {
	scale float32
	zero  int32
}

// paramsFor turns a calibrated range into scale and zero point. Asymmetric
// uint8: the range widened to include 0, scale = (max − min) / 255, zero
// point round(−min / scale). Symmetric int8: scale = Abs / 127, zero point
// 0. A degenerate (all-zero) range gets scale 1.
func paramsFor(r Range, dt tensor.DType) actParams {
	if dt == tensor.Int8 {
		s := r.Abs / 127
		if !(s > 0) || math.IsInf(float64(s), 0) {
			s = 1
		}
		return actParams{scale: s}
	}
	lo, hi := min(r.Min, 0), max(r.Max, 0)
	s := (hi - lo) / 255
	if !(s > 0) || math.IsInf(float64(s), 0) {
		return actParams{scale: 1}
	}
	z := math.RoundToEven(float64(-lo / s))
	return actParams{scale: s, zero: int32(min(max(z, 0), 255))}
}

// Static rewrites g in place for static int8 quantization with the ranges
// of cal (from Calibrate on the same graph): each product whose A operand
// was calibrated becomes a QuantMatMul with per-channel int8 weights and A's
// scale and zero point as attributes. Where a product's output is not a
// graph output and feeds only other QuantMatMuls (as their A), the product
// requantizes it in its epilogue and the value travels as 8-bit; otherwise
// it is written as float32. Products whose A was not calibrated stay
// float32.
func Static(g *graph.Graph, cal *Calibration, opts StaticOptions) (*bundle.Quantization, error) {
	dt := opts.Activations
	if dt == tensor.Undefined {
		dt = tensor.Uint8
	}
	if dt != tensor.Uint8 && dt != tensor.Int8 {
		return nil, fmt.Errorf("quant: static activations must be uint8 or int8, not %v", dt)
	}
	if cal == nil || len(cal.Ranges) == 0 {
		return nil, fmt.Errorf("quant: %s needs a calibration", ModeInt8)
	}
	r := newRewriter(g, ModeInt8)
	params := map[*graph.Value]actParams{}
	var done []*product
	for _, p := range products(g) {
		rg, ok := cal.Ranges[p.a.Name]
		if !ok {
			continue
		}
		ap := paramsFor(rg, dt)
		params[p.a] = ap
		r.replace(p, "QuantMatMul", p.a, map[string]*graph.Attr{
			"a_scale":      graph.FloatAttr(ap.scale),
			"a_zero_point": graph.IntAttr(int64(ap.zero)),
			"a_type":       graph.IntAttr(int64(dt)),
		})
		qp := bundle.QuantParams{Scale: []float64{float64(ap.scale)}, DType: dt.String()}
		if dt == tensor.Uint8 {
			qp.ZeroPoint = []int64{int64(ap.zero)}
		}
		r.q.Tensors[p.a.Name] = qp
		done = append(done, p)
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("quant: %s: %w (the calibration covers none of the graph's products)", ModeInt8, ErrNothingToQuantize)
	}
	chain(g, done, params, dt)
	return r.finish()
}

// chain makes each rewritten product whose output feeds only QuantMatMuls
// (as input 0) requantize that output, so it stays 8-bit between them.
func chain(g *graph.Graph, done []*product, params map[*graph.Value]actParams, dt tensor.DType) {
	isOut := map[*graph.Value]bool{}
	for _, v := range g.Outputs {
		isOut[v] = true
	}
	quantA := map[*graph.Node]bool{}
	for _, p := range done {
		quantA[p.node] = true
	}
	ok := map[*graph.Value]bool{}
	uses := map[*graph.Value]int{}
	for _, n := range g.Nodes {
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			if _, seen := ok[v]; !seen {
				ok[v] = true
			}
			uses[v]++
			if !quantA[n] || i != 0 {
				ok[v] = false
			}
		}
	}
	for _, p := range done {
		y := p.node.Outputs[0]
		ap, calibrated := params[y]
		if isOut[y] || !ok[y] || uses[y] == 0 || !calibrated {
			continue
		}
		p.node.Attrs["y_type"] = graph.IntAttr(int64(dt))
		p.node.Attrs["y_scale"] = graph.FloatAttr(ap.scale)
		p.node.Attrs["y_zero_point"] = graph.IntAttr(int64(ap.zero))
		y.Type.DType = dt
	}
}
