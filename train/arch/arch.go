// Package arch holds the built-in model architectures `sextant train
// --arch NAME` can train from scratch. Registry maps a name to its
// builder; to add an architecture, add an entry.
package arch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Spec is what a builder knows about the run: the training data's columns
// and the command's architecture flags.
type Spec struct {
	// Columns maps each data column (labels excluded) to its per-example
	// shape and dtype.
	Columns map[string]Column
	// Outputs is the width of the prediction: the number of classes for a
	// classifier (from the labels), the target's width for regression.
	Outputs int
	// Input names the column an architecture with one feature input reads
	// ("" lets it choose: the only column, or "x").
	Input string
	// Hidden lists hidden-layer widths (architectures with defaults use
	// them when empty).
	Hidden []int
	// Rand initializes the weights.
	Rand *rand.Rand
}

// Column describes one data column.
type Column struct {
	DType tensor.DType
	Shape []int // per example
}

// Model is a built architecture: its forward graph and the name of the
// output the loss reads.
type Model struct {
	Graph  *graph.Graph
	Output string
}

// Builder builds an architecture's forward graph for spec.
type Builder func(spec Spec) (*Model, error)

// Registry is the built-in architectures by name.
var Registry = map[string]Builder{
	"mlp": MLP,
}

// Names lists the registered architectures, sorted.
func Names() []string {
	out := make([]string, 0, len(Registry))
	for n := range Registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// inputColumn picks the single feature column an architecture reads.
func inputColumn(spec Spec) (string, Column, error) {
	name := spec.Input
	if name == "" {
		if len(spec.Columns) == 1 {
			for n := range spec.Columns {
				name = n
			}
		} else {
			name = "x"
		}
	}
	c, ok := spec.Columns[name]
	if !ok {
		cols := make([]string, 0, len(spec.Columns))
		for n := range spec.Columns {
			cols = append(cols, n)
		}
		sort.Strings(cols)
		return "", Column{}, fmt.Errorf("arch: no input column %q in the data (have %v); choose one with --input", name, cols)
	}
	return name, c, nil
}

// linearInit returns torch.nn.Linear's default initialization of an
// [out, in] weight and [out] bias: uniform in ±1/√in.
func linearInit(r *rand.Rand, out, in int) (*tensor.Tensor, *tensor.Tensor) {
	bound := 1 / math.Sqrt(float64(in))
	w, b := tensor.New(tensor.Float32, out, in), tensor.New(tensor.Float32, out)
	for i := range tensor.Data[float32](w) {
		tensor.Data[float32](w)[i] = float32((2*r.Float64() - 1) * bound)
	}
	for i := range tensor.Data[float32](b) {
		tensor.Data[float32](b)[i] = float32((2*r.Float64() - 1) * bound)
	}
	return w, b
}
