package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/quant"
)

// quantizeOptions are convert's quantization settings.
type quantizeOptions struct {
	mode      string // "", int8, int8-dynamic, f16
	calibrate string // directory of .npy files named after the inputs
	method    string // minmax (default), percentile, entropy
	progress  io.Writer
}

// addQuantizeFlags registers convert's quantization flags.
func addQuantizeFlags(cmd *cobra.Command, o *quantizeOptions, e *env) {
	o.progress = e.stderr
	cmd.Flags().StringVar(&o.mode, "quantize", "", "quantize weights: int8 (static, needs --calibrate), int8-dynamic or f16")
	cmd.Flags().StringVar(&o.calibrate, "calibrate", "", "calibration data for --quantize int8: a directory of .npy files named after the model's inputs (first axis = example)")
	cmd.Flags().StringVar(&o.method, "calibration-method", "", "how --quantize int8 picks activation ranges: minmax (default), percentile (99.99%) or entropy (KL)")
}

// quantizeGraph applies the quantization o asks for to the optimized graph
// g, in place, and returns the manifest record (nil for a float model). An
// already-quantized (QDQ) model's products are folded into int8 kernels
// first, whatever o asks for.
func quantizeGraph(ctx context.Context, g *graph.Graph, o quantizeOptions) (*bundle.Quantization, error) {
	if o.mode != quant.ModeInt8 && (o.calibrate != "" || o.method != "") {
		return nil, fmt.Errorf("--calibrate and --calibration-method apply only to --quantize int8")
	}
	qdq, _, err := quant.FoldQDQ(g)
	if err != nil {
		return nil, err
	}
	q, err := quantizeFloat(ctx, g, o)
	switch {
	case err != nil && qdq != nil && errors.Is(err, quant.ErrNothingToQuantize):
		return qdq, nil // every product was already quantized
	case err != nil:
		return nil, err
	case q == nil:
		return qdq, nil
	case qdq != nil:
		maps.Copy(q.Tensors, qdq.Tensors)
	}
	return q, nil
}

// quantizeFloat applies o's mode to g's float products.
func quantizeFloat(ctx context.Context, g *graph.Graph, o quantizeOptions) (*bundle.Quantization, error) {
	switch o.mode {
	case "":
		return nil, nil
	case quant.ModeInt8Dynamic:
		return quant.Dynamic(g)
	case quant.ModeFloat16:
		return quant.Float16(g)
	case quant.ModeInt8:
	default:
		return nil, fmt.Errorf("--quantize %q: want int8, int8-dynamic or f16", o.mode)
	}
	if o.calibrate == "" {
		return nil, fmt.Errorf("--quantize int8 needs calibration data: --calibrate DIR (.npy files named after the inputs)")
	}
	method := quant.MinMax
	if o.method != "" {
		m, err := quant.ParseMethod(o.method)
		if err != nil {
			return nil, fmt.Errorf("--calibration-method: %w", err)
		}
		method = m
	}
	data, err := quant.NPYDir(o.calibrate)
	if err != nil {
		return nil, fmt.Errorf("--calibrate: %w", err)
	}
	bar := &progressBar{w: o.progress, label: "calibrating (" + string(method) + ")"}
	cal, err := quant.Calibrate(ctx, g, data, method, bar.update)
	bar.finish()
	if err != nil {
		return nil, err
	}
	return quant.Static(g, cal, quant.StaticOptions{})
}

// cloneGraph copies g deeply enough for engine.Compile, which rewrites the
// graph it is given: new nodes and values, shared constant tensors and
// attribute values (neither is modified by compilation).
func cloneGraph(g *graph.Graph) *graph.Graph {
	vals := map[*graph.Value]*graph.Value{}
	val := func(v *graph.Value) *graph.Value {
		if v == nil {
			return nil
		}
		if c, ok := vals[v]; ok {
			return c
		}
		c := &graph.Value{Name: v.Name, Type: v.Type, Const: v.Const, Layouts: v.Layouts}
		c.Type.Shape = append([]graph.Dim(nil), v.Type.Shape...)
		vals[v] = c
		return c
	}
	c := &graph.Graph{Name: g.Name, Opset: g.Opset, Domains: maps.Clone(g.Domains)}
	for _, v := range g.Inputs {
		c.Inputs = append(c.Inputs, val(v))
	}
	for _, v := range g.Initializers {
		c.Initializers = append(c.Initializers, val(v))
	}
	for _, n := range g.Nodes {
		cn := &graph.Node{Name: n.Name, Op: n.Op, Domain: n.Domain, Attrs: maps.Clone(n.Attrs)}
		for _, v := range n.Inputs {
			cn.Inputs = append(cn.Inputs, val(v))
		}
		for _, v := range n.Outputs {
			o := val(v)
			if o != nil {
				o.Producer = cn
			}
			cn.Outputs = append(cn.Outputs, o)
		}
		c.Nodes = append(c.Nodes, cn)
	}
	for _, v := range g.Outputs {
		c.Outputs = append(c.Outputs, val(v))
	}
	return c
}

// progressBar draws "label [#####     ] done/total" on one line of w,
// rewriting it with a carriage return at most every 100 ms (and at 100%).
type progressBar struct {
	w     io.Writer
	label string
	last  time.Time
	drawn bool
}

func (p *progressBar) update(done, total int) {
	if p.w == nil || total <= 0 {
		return
	}
	if now := time.Now(); done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	} else {
		p.last = now
	}
	const width = 30
	fill := min(width, width*done/total)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d examples", p.label, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), done, total)
	p.drawn = true
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// printQuantization reports the quantization a conversion applied.
func printQuantization(e *env, q *bundle.Quantization) {
	if q == nil {
		return
	}
	fmt.Fprintf(e.stdout, "quantized  %s (%d tensors)\n", q.Mode, len(q.Tensors))
}
