package quant

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sextant-ml/sextant/tensor"
)

// Iterator yields calibration examples: for each model input, a tensor
// whose first axis is the example. Calibrate may go over the data more than
// once (Reset).
type Iterator interface {
	// Len is the number of examples.
	Len() int
	// Next returns the next up to max examples of every input, keyed by
	// input name, or io.EOF when none are left.
	Next(max int) (map[string]*tensor.Tensor, error)
	// Reset starts again from the first example.
	Reset() error
}

// TensorData is an in-memory Iterator over whole tensors, one per input,
// all with the same first axis.
type TensorData struct {
	inputs map[string]*tensor.Tensor
	n, pos int
}

// NewTensorData iterates over inputs (name → [examples, ...]).
func NewTensorData(inputs map[string]*tensor.Tensor) (*TensorData, error) {
	d := &TensorData{inputs: inputs, n: -1}
	for name, t := range inputs {
		if len(t.Shape) == 0 {
			return nil, fmt.Errorf("quant: calibration input %q is a scalar: want [examples, ...]", name)
		}
		if d.n >= 0 && t.Shape[0] != d.n {
			return nil, fmt.Errorf("quant: calibration input %q has %d examples, others %d", name, t.Shape[0], d.n)
		}
		d.n = t.Shape[0]
	}
	if d.n <= 0 {
		return nil, fmt.Errorf("quant: no calibration examples")
	}
	return d, nil
}

// NPYDir reads a calibration data set stored as a directory of .npy files
// named after the model's inputs (DESIGN.md, "Contracts"): <input>.npy
// holds that input's examples along its first axis.
func NPYDir(dir string) (*TensorData, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("quant: calibration data: %w", err)
	}
	inputs := map[string]*tensor.Tensor{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".npy") {
			continue
		}
		t, err := tensor.ReadNPYFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("quant: calibration data: %w", err)
		}
		inputs[strings.TrimSuffix(e.Name(), ".npy")] = t
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("quant: calibration data: no .npy files in %s", dir)
	}
	return NewTensorData(inputs)
}

// Names lists the inputs, sorted.
func (d *TensorData) Names() []string {
	names := make([]string, 0, len(d.inputs))
	for k := range d.inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Len is the number of examples.
func (d *TensorData) Len() int { return d.n }

// Reset starts again from the first example.
func (d *TensorData) Reset() error { d.pos = 0; return nil }

// Next copies the next up to max examples of every input.
func (d *TensorData) Next(max int) (map[string]*tensor.Tensor, error) {
	if d.pos >= d.n {
		return nil, io.EOF
	}
	k := min(max, d.n-d.pos)
	out := make(map[string]*tensor.Tensor, len(d.inputs))
	for name, t := range d.inputs {
		row := len(t.Raw) / d.n
		shape := append(tensor.Shape{k}, t.Shape[1:]...)
		b, err := tensor.FromRaw(t.DType, shape, t.Raw[d.pos*row:(d.pos+k)*row])
		if err != nil {
			return nil, fmt.Errorf("quant: calibration input %q: %w", name, err)
		}
		out[name] = b
	}
	d.pos += k
	return out, nil
}
