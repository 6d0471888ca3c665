package eval

import (
	"context"
	"fmt"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

// Batch is examples [Lo, Hi) of a data set.
type Batch struct {
	Data   *dataset.Dataset
	Lo, Hi int
}

// Len is the number of examples in the batch.
func (b Batch) Len() int { return b.Hi - b.Lo }

// Predictor produces scores for a batch of examples: a compiled model, a
// built-in baseline, or anything else that can rank candidates (e.g. the
// next-destination feature package's own heuristics). Predict returns
// Width scores per example of the batch, in order.
type Predictor interface {
	Name() string
	Predict(ctx context.Context, b Batch) (Scores, error)
}

// ScoreKinder is implemented by predictors that know whether their scores
// are logits or probabilities; others are read as the caller says.
type ScoreKinder interface {
	ScoreKind() ScoreKind
}

// PredictAll runs p over every example of d in batches of at most batch.
func PredictAll(ctx context.Context, p Predictor, d *dataset.Dataset, batch int) (Scores, error) {
	if batch <= 0 {
		batch = 256
	}
	var all Scores
	for lo := 0; lo < d.N; lo += batch {
		hi := min(lo+batch, d.N)
		s, err := p.Predict(ctx, Batch{Data: d, Lo: lo, Hi: hi})
		if err != nil {
			return Scores{}, fmt.Errorf("eval: %s on examples [%d, %d): %w", p.Name(), lo, hi, err)
		}
		if s.Len() != hi-lo || s.Width*(hi-lo) != len(s.Values) {
			return Scores{}, fmt.Errorf("eval: %s returned %d values of width %d for %d examples", p.Name(), len(s.Values), s.Width, hi-lo)
		}
		if all.Width == 0 {
			all.Width = s.Width
			all.Values = make([]float64, 0, s.Width*d.N)
		} else if s.Width != all.Width {
			return Scores{}, fmt.Errorf("eval: %s changed width from %d to %d", p.Name(), all.Width, s.Width)
		}
		all.Values = append(all.Values, s.Values...)
	}
	return all, nil
}

// ModelPredictor runs a compiled model. Each graph input is fed from the
// data set's column of the same name, converted to the input's dtype and,
// when the widths agree, reshaped to its per-example shape (so a [N] column
// feeds a [batch, 1] input). The scores are one output's values, flattened
// per example. Bind points it at another data set (the next chunk of a
// Source) without a new session.
type ModelPredictor struct {
	name   string
	model  *engine.Model
	sess   *engine.Session
	cols   []*tensor.Tensor // per graph input, the bound data set
	fixed  int              // the batch dimension when the graph fixes it, else 0
	output int
}

// NewModelPredictor binds m's inputs to d's columns. output names the graph
// output holding the scores; empty means the first.
func NewModelPredictor(name string, m *engine.Model, d *dataset.Dataset, output string) (*ModelPredictor, error) {
	p := &ModelPredictor{name: name, model: m, sess: m.NewSession()}
	outs := m.OutputNames()
	p.output = -1
	for i, o := range outs {
		if o == output || (output == "" && i == 0) {
			p.output = i
		}
	}
	if p.output < 0 {
		return nil, fmt.Errorf("eval: model %s has no output %q (outputs: %v)", name, output, outs)
	}
	if err := p.Bind(d); err != nil {
		return nil, err
	}
	return p, nil
}

// Bind feeds the model's inputs from d's columns from now on.
func (p *ModelPredictor) Bind(d *dataset.Dataset) error {
	name := p.name
	fixed := 0
	cols := make([]*tensor.Tensor, 0, len(p.model.Graph().Inputs))
	for _, in := range p.model.Graph().Inputs {
		col, ok := d.Column(in.Name)
		if !ok {
			return fmt.Errorf("eval: model %s input %q has no column in the data (columns: %v)", name, in.Name, d.Columns())
		}
		col, err := dataset.Convert(col, in.Type.DType)
		if err != nil {
			return fmt.Errorf("eval: model %s input %q: %w", name, in.Name, err)
		}
		if in.Type.Known && len(in.Type.Shape) > 0 {
			dims := in.Type.Shape
			if dims[0].IsFixed() {
				if fixed != 0 && fixed != int(dims[0].Size) {
					return fmt.Errorf("eval: model %s fixes different batch sizes on its inputs", name)
				}
				fixed = int(dims[0].Size)
			}
			per, allFixed := 1, true
			for _, dd := range dims[1:] {
				if !dd.IsFixed() {
					allFixed = false
					break
				}
				per *= int(dd.Size)
			}
			if allFixed && per == dataset.Width(col) && len(col.Shape) != len(dims) {
				shape := tensor.Shape{col.Shape[0]}
				for _, dd := range dims[1:] {
					shape = append(shape, int(dd.Size))
				}
				col = &tensor.Tensor{DType: col.DType, Shape: shape, Raw: col.Raw, Strs: col.Strs}
			}
		}
		cols = append(cols, col)
	}
	p.cols, p.fixed = cols, fixed
	return nil
}

// Name is the model's name.
func (p *ModelPredictor) Name() string { return p.name }

// BatchSize is the batch the graph fixes, or 0 when any batch works.
func (p *ModelPredictor) BatchSize() int { return p.fixed }

// Predict runs the model on b. A graph with a fixed batch size runs in
// chunks of that size, the last padded by repeating its final example.
func (p *ModelPredictor) Predict(ctx context.Context, b Batch) (Scores, error) {
	step := b.Len()
	if p.fixed > 0 {
		step = p.fixed
	}
	var s Scores
	ins := make([]*tensor.Tensor, len(p.cols))
	for lo := b.Lo; lo < b.Hi; lo += step {
		hi := min(lo+step, b.Hi)
		fed := hi - lo
		for i, c := range p.cols {
			ins[i] = dataset.Rows(c, lo, hi)
			if fed < step {
				ins[i] = dataset.PadRows(c, lo, hi, step)
			}
		}
		fed = max(fed, p.fixed)
		outs, err := p.sess.Run(ctx, ins)
		if err != nil {
			return Scores{}, err
		}
		o := outs[p.output]
		if o.Rank() == 0 || o.Shape[0] != fed {
			return Scores{}, fmt.Errorf("output %v has no batch axis of %d", o, fed)
		}
		w := dataset.Width(o)
		if s.Width == 0 {
			s.Width = w
		}
		for i := range (hi - lo) * w {
			s.Values = append(s.Values, o.Float64At(i))
		}
	}
	return s, nil
}
