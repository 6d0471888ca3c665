package eval

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sextant-ml/sextant/tensor"
)

// Dataset is a set of examples held column by column (DESIGN.md,
// "Contracts"): each column is a tensor whose first axis is the example, so
// a scalar feature is [N], a vector [N, D] and a sequence [N, L].
//
// The data-set reader for training (package dataset, in progress) will read
// the same two formats; until it exists eval reads them here.
type Dataset struct {
	// Path is where the data came from.
	Path string
	// Format is "npy" or "parquet".
	Format string
	// N is the number of examples.
	N int

	cols  map[string]*tensor.Tensor
	order []string
}

// NewDataset assembles a data set from columns, which must agree on their
// first dimension.
func NewDataset(cols map[string]*tensor.Tensor) (*Dataset, error) {
	d := &Dataset{cols: map[string]*tensor.Tensor{}, N: -1}
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := d.Add(n, cols[n]); err != nil {
			return nil, err
		}
	}
	if d.N < 0 {
		d.N = 0
	}
	return d, nil
}

// Add adds or replaces a column.
func (d *Dataset) Add(name string, t *tensor.Tensor) error {
	if d.cols == nil {
		d.cols = map[string]*tensor.Tensor{}
		d.N = -1
	}
	if t.Rank() == 0 {
		return fmt.Errorf("eval: column %q is a scalar; want a first axis over examples", name)
	}
	if err := t.Check(); err != nil {
		return fmt.Errorf("eval: column %q: %w", name, err)
	}
	if len(d.cols) > 0 && d.N >= 0 && t.Shape[0] != d.N {
		if _, replacing := d.cols[name]; !replacing || len(d.cols) > 1 {
			return fmt.Errorf("eval: column %q has %d examples, others have %d", name, t.Shape[0], d.N)
		}
	}
	if _, ok := d.cols[name]; !ok {
		d.order = append(d.order, name)
	}
	d.cols[name] = t
	d.N = t.Shape[0]
	return nil
}

// Column returns the named column.
func (d *Dataset) Column(name string) (*tensor.Tensor, bool) {
	t, ok := d.cols[name]
	return t, ok
}

// Columns lists the column names in the order they were read.
func (d *Dataset) Columns() []string { return append([]string(nil), d.order...) }

// Width is the number of elements one example has in column t.
func Width(t *tensor.Tensor) int {
	w := 1
	for _, s := range t.Shape[1:] {
		w *= s
	}
	return w
}

// Rows returns a view of examples [lo, hi) of t, sharing its memory.
func Rows(t *tensor.Tensor, lo, hi int) *tensor.Tensor {
	w := Width(t)
	shape := append(tensor.Shape{hi - lo}, t.Shape[1:]...)
	if t.DType == tensor.String {
		return &tensor.Tensor{DType: t.DType, Shape: shape, Strs: t.Strs[lo*w : hi*w]}
	}
	sz := t.DType.Size()
	return &tensor.Tensor{DType: t.DType, Shape: shape, Raw: t.Raw[lo*w*sz : hi*w*sz]}
}

// ReadData reads a data set from a directory of .npy files or a Parquet
// file.
func ReadData(path string) (*Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("eval: data: %w", err)
	}
	if st.IsDir() {
		return ReadNPYDir(path)
	}
	if strings.EqualFold(filepath.Ext(path), ".parquet") {
		return ReadParquet(path)
	}
	return nil, fmt.Errorf("eval: data %s: want a directory of .npy files or a .parquet file", path)
}

// ReadNPYDir reads every NAME.npy in dir as column NAME.
func ReadNPYDir(dir string) (*Dataset, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.npy"))
	if err != nil {
		return nil, fmt.Errorf("eval: data: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("eval: data: no .npy files in %s", dir)
	}
	sort.Strings(files)
	d := &Dataset{Path: dir, Format: "npy"}
	for _, f := range files {
		t, err := tensor.ReadNPYFile(f)
		if err != nil {
			return nil, fmt.Errorf("eval: data: %w", err)
		}
		if err := d.Add(strings.TrimSuffix(filepath.Base(f), ".npy"), t); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Convert returns t's elements as dtype dt (t itself when it already has
// that type). Values are converted through float64, so integers beyond 2^53
// lose precision; strings convert only to strings.
func Convert(t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	if t.DType == dt {
		return t, nil
	}
	if t.DType == tensor.String || dt == tensor.String {
		return nil, fmt.Errorf("eval: cannot convert %v to %v", t.DType, dt)
	}
	out := tensor.New(dt, t.Shape...)
	n := t.Len()
	switch dt {
	case tensor.Float32:
		o := tensor.Data[float32](out)
		for i := range n {
			o[i] = float32(t.Float64At(i))
		}
	case tensor.Float64:
		o := tensor.Data[float64](out)
		for i := range n {
			o[i] = t.Float64At(i)
		}
	case tensor.Int64:
		o := tensor.Data[int64](out)
		for i := range n {
			o[i] = int64(t.Float64At(i))
		}
	case tensor.Int32:
		o := tensor.Data[int32](out)
		for i := range n {
			o[i] = int32(t.Float64At(i))
		}
	case tensor.Bool:
		for i := range n {
			if t.Float64At(i) != 0 {
				out.Raw[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("eval: cannot convert %v to %v", t.DType, dt)
	}
	return out, nil
}

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

// Labels reads a scalar label column (shape [N] or [N, 1]) as float64s.
func (d *Dataset) Labels(name string) ([]float64, error) {
	t, ok := d.cols[name]
	if !ok {
		return nil, fmt.Errorf("eval: no label column %q (columns: %v)", name, d.order)
	}
	if Width(t) != 1 {
		return nil, fmt.Errorf("eval: label column %q has %d values per example, want 1", name, Width(t))
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
