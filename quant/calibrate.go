package quant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Calibration is what Calibrate learned: a range for every activation that
// feeds a product Static quantizes, by value name.
type Calibration struct {
	Method   Method
	Examples int
	Ranges   map[string]Range
}

// calibrationBatch is how many examples one run takes when every input's
// first axis is free.
const calibrationBatch = 32

// Calibrate runs g (optimized, float32) over the examples of data and
// returns the range of every activation that is the A operand of a product
// Static rewrites. MinMax goes over the data once; Percentile and Entropy go
// twice (extremes, then a histogram over them). progress, when not nil, is
// called after every batch with the examples done and the total over all
// passes. g is not modified.
//
// An input whose first dimension is fixed is fed one example at a time,
// reshaped to its declared shape when the element counts agree (a model
// with input [1, 32] calibrates from a file of [N, 32]).
func Calibrate(ctx context.Context, g *graph.Graph, data Iterator, method Method, progress func(done, total int)) (*Calibration, error) {
	if _, err := ParseMethod(string(method)); err != nil {
		return nil, err
	}
	var targets []*graph.Value
	seen := map[*graph.Value]bool{}
	for _, p := range products(g) {
		if !seen[p.a] {
			seen[p.a] = true
			targets = append(targets, p.a)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("quant: calibrate: %w", ErrNothingToQuantize)
	}
	r, err := newCalibrationRunner(g, targets)
	if err != nil {
		return nil, err
	}
	passes := 1
	if method != MinMax {
		passes = 2
	}
	obs := make([]observer, len(targets))
	total, done := passes*data.Len(), 0
	for pass := 0; pass < passes; pass++ {
		if pass == 1 {
			for i := range obs {
				obs[i].startHistogram()
			}
		}
		if err := data.Reset(); err != nil {
			return nil, fmt.Errorf("quant: calibrate: %w", err)
		}
		for {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("quant: calibrate: %w", err)
			}
			n, vals, err := r.next(ctx, data)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			for i, v := range vals {
				x := tensor.Data[float32](v)
				if pass == 0 {
					obs[i].observeMinMax(x)
				} else {
					obs[i].observeHistogram(x)
				}
			}
			done += n
			if progress != nil {
				progress(done, total)
			}
		}
	}
	c := &Calibration{Method: method, Examples: data.Len(), Ranges: map[string]Range{}}
	for i, v := range targets {
		if !obs[i].seen {
			return nil, fmt.Errorf("quant: calibrate: no finite values observed for %q", v.Name)
		}
		c.Ranges[v.Name] = obs[i].finish(method)
	}
	return c, nil
}

// calibrationRunner runs a copy of the graph whose outputs are the target
// activations (graph inputs among them are read from the data directly).
type calibrationRunner struct {
	model   *engine.Model
	sess    *engine.Session
	inputs  []*graph.Value
	source  []int // per target: output index, or −1−(input index)
	batch   int
	targets []*tensor.Tensor
}

func newCalibrationRunner(g *graph.Graph, targets []*graph.Value) (*calibrationRunner, error) {
	cg := *g
	cg.Nodes = slices.Clone(g.Nodes)
	cg.Outputs = nil
	r := &calibrationRunner{inputs: g.Inputs, batch: calibrationBatch, targets: make([]*tensor.Tensor, len(targets))}
	for _, v := range targets {
		if i := slices.Index(g.Inputs, v); i >= 0 {
			r.source = append(r.source, -1-i)
			continue
		}
		r.source = append(r.source, len(cg.Outputs))
		cg.Outputs = append(cg.Outputs, v)
	}
	if len(cg.Outputs) == 0 {
		// Only graph inputs are observed; keep one real output so the
		// model compiles.
		cg.Outputs = g.Outputs[:1]
	}
	for _, v := range g.Inputs {
		if !v.Type.Known || len(v.Type.Shape) == 0 || v.Type.Shape[0].IsFixed() {
			r.batch = 1
		}
	}
	m, err := engine.Compile(&cg, engine.Options{NoOptimize: true})
	if err != nil {
		return nil, fmt.Errorf("quant: calibrate: %w", err)
	}
	r.model, r.sess = m, m.NewSession()
	return r, nil
}

// next runs the model on the next batch and returns the number of examples
// and the target activations (valid until the following call).
func (r *calibrationRunner) next(ctx context.Context, data Iterator) (int, []*tensor.Tensor, error) {
	b, err := data.Next(r.batch)
	if err != nil {
		return 0, nil, err
	}
	ins := make([]*tensor.Tensor, len(r.inputs))
	n := 0
	for i, v := range r.inputs {
		t, ok := b[v.Name]
		if !ok {
			return 0, nil, fmt.Errorf("quant: calibration data has no input %q", v.Name)
		}
		n = t.Shape[0]
		if s, ok := v.Type.Concrete(); ok && r.batch == 1 && !s.Equal(t.Shape) && s.NumElements() == t.Len() {
			t.Shape = s
		}
		ins[i] = t
	}
	outs, err := r.sess.Run(ctx, ins)
	if err != nil {
		return 0, nil, fmt.Errorf("quant: calibrate: %w", err)
	}
	for i, src := range r.source {
		if src >= 0 {
			r.targets[i] = outs[src]
		} else {
			r.targets[i] = ins[-1-src]
		}
	}
	return n, r.targets, nil
}
