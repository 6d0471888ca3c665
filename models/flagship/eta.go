package flagship

import (
	"fmt"

	"github.com/sextant-ml/sextant/features"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train/arch"
)

// ETASmall is the on-device ETA model: an MLP of widths 48, 48 (or
// Spec.Hidden) on package features' route input; about 4,300 parameters
// (17 KB in float32).
func ETASmall(spec arch.Spec) (*arch.Model, error) { return eta("eta-small", spec, []int{48, 48}) }

// ETAServer is the server ETA model: an MLP of widths 256, 256, 128 (or
// Spec.Hidden); about 109,000 parameters.
func ETAServer(spec arch.Spec) (*arch.Model, error) {
	return eta("eta-server", spec, []int{256, 256, 128})
}

// eta builds an ETA MLP. It reads "route" [batch, D] and "free_flow_s"
// [batch] and has two outputs: "eta_s" [batch, 1], the predicted travel
// time in seconds (first, what serving and eval read), and "log_ratio"
// [batch, 1], ln(eta_s / free_flow_s), which training fits to the label of
// the same name. Hidden layers are MatMul + Add + Relu named fc1, fc2, …; the last
// is "head".
func eta(name string, spec arch.Spec, hidden []int) (*arch.Model, error) {
	d := features.RouteFeatures
	if spec.Columns != nil {
		if got, ok := spec.Columns["route"]; !ok || numel(got.Shape) != d {
			return nil, fmt.Errorf("arch %s: want a column \"route\" of %d features per example (make it with sextant data features --kind eta)", name, d)
		}
		if _, ok := spec.Columns["free_flow_s"]; !ok {
			return nil, fmt.Errorf("arch %s: the data has no column \"free_flow_s\"", name)
		}
	}
	if len(spec.Hidden) > 0 {
		hidden = spec.Hidden
	}
	b := graph.NewBuilder(name, 17)
	b.Input("route", tensor.Float32, "batch", d)
	b.Input("free_flow_s", tensor.Float32, "batch")
	h, in := "route", d
	for i, w := range append(hidden, 1) {
		if w <= 0 {
			return nil, fmt.Errorf("arch %s: hidden width %d", name, w)
		}
		layer := fmt.Sprintf("fc%d", i+1)
		if i == len(hidden) {
			layer = "head"
		}
		linear(b, spec.Rand, layer, in, w, true)
		h = b.Op("Add", nil, b.Op("MatMul", nil, h, layer+".weight"), layer+".bias")
		if i < len(hidden) {
			h = b.Op("Relu", nil, h)
		}
		in = w
	}
	b.Node("Identity", []string{h}, []string{"log_ratio"}, nil)
	ff := b.Op("Unsqueeze", nil, "free_flow_s", ints(b, 1))
	b.Node("Mul", []string{ff, b.Op("Exp", nil, "log_ratio")}, []string{"eta_s"}, nil)
	b.Output("eta_s", "log_ratio")
	return &arch.Model{Graph: b.Graph(), Output: "log_ratio"}, nil
}
