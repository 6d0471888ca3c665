package eval

import (
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// Floats returns a numeric column's elements as float64s.
func Floats(t *tensor.Tensor) ([]float64, error) {
	if t.DType == tensor.String {
		return nil, errors.New("eval: column holds strings, not numbers")
	}
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out, nil
}

// Labels reads d's scalar label column name (shape [N] or [N, 1]) as
// float64s; a NaN label is an error.
func Labels(d *dataset.Dataset, name string) ([]float64, error) {
	t, ok := d.Column(name)
	if !ok {
		return nil, fmt.Errorf("eval: no label column %q (columns: %v)", name, d.Columns())
	}
	if w := dataset.Width(t); w != 1 {
		return nil, fmt.Errorf("eval: label column %q has %d values per example, want 1", name, w)
	}
	v, err := Floats(t)
	if err != nil {
		return nil, fmt.Errorf("eval: label column %q: %w", name, err)
	}
	for i, x := range v {
		if math.IsNaN(x) {
			return nil, fmt.Errorf("eval: label column %q: example %d is NaN", name, i)
		}
	}
	return v, nil
}
