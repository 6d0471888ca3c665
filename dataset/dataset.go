package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sextant-ml/sextant/tensor"
)

// Dataset is a set of examples held column by column.
type Dataset struct {
	// Path is where the data came from; Format is "npy" or "parquet".
	Path, Format string
	// N is the number of examples.
	N     int
	cols  map[string]*tensor.Tensor
	order []string
}

// New assembles a data set from named columns, which must agree on the
// number of examples. Columns are listed in the order given.
func New(names []string, cols []*tensor.Tensor) (*Dataset, error) {
	if len(names) != len(cols) {
		return nil, fmt.Errorf("dataset: %d names for %d columns", len(names), len(cols))
	}
	d := &Dataset{N: -1, cols: map[string]*tensor.Tensor{}}
	for i, n := range names {
		if err := d.add(n, cols[i]); err != nil {
			return nil, err
		}
	}
	if d.N < 0 {
		return nil, fmt.Errorf("dataset: no columns")
	}
	return d, nil
}

func (d *Dataset) add(name string, t *tensor.Tensor) error {
	if _, dup := d.cols[name]; dup {
		return fmt.Errorf("dataset: column %q twice", name)
	}
	if len(t.Shape) == 0 {
		return fmt.Errorf("dataset: column %q is a scalar; the first axis must be the example", name)
	}
	if err := t.Check(); err != nil {
		return fmt.Errorf("dataset: column %q: %w", name, err)
	}
	if d.N >= 0 && t.Shape[0] != d.N {
		return fmt.Errorf("dataset: column %q has %d examples, the others %d", name, t.Shape[0], d.N)
	}
	d.N = t.Shape[0]
	d.cols[name] = t
	d.order = append(d.order, name)
	return nil
}

// Columns lists the column names.
func (d *Dataset) Columns() []string { return append([]string(nil), d.order...) }

// Column returns the named column as read.
func (d *Dataset) Column(name string) (*tensor.Tensor, bool) {
	t, ok := d.cols[name]
	return t, ok
}

// As returns column name converted to dtype dt (a numeric or bool dtype;
// numbers convert as Go conversions do) and, when shape is not nil,
// checked against the per-example shape (shape[i] < 0 matches any size).
// A column of the right dtype is returned as is, not copied.
func (d *Dataset) As(name string, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	t, ok := d.cols[name]
	if !ok {
		return nil, fmt.Errorf("dataset %s: no column %q (have %s)", d.Path, name, strings.Join(d.order, ", "))
	}
	if shape != nil {
		got := t.Shape[1:]
		match := len(got) == len(shape)
		for i := 0; match && i < len(shape); i++ {
			match = shape[i] < 0 || shape[i] == got[i]
		}
		// A [N] scalar column feeds an input of per-example shape [1].
		if !match && len(got) == 0 && len(shape) == 1 && (shape[0] == 1 || shape[0] < 0) {
			t = &tensor.Tensor{DType: t.DType, Shape: tensor.Shape{t.Shape[0], 1}, Raw: t.Raw, Strs: t.Strs}
			match = true
		}
		if !match {
			return nil, fmt.Errorf("dataset %s: column %q has examples shaped %v, want %v", d.Path, name, got, shape)
		}
	}
	out, err := Convert(t, dt)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: column %q: %w", d.Path, name, err)
	}
	return out, nil
}

// Convert returns t's elements as dtype dt: t itself when it already has
// that type, else a copy. Numbers and bools convert to int64, int32,
// float32, float64 and bool as Go conversions do (any nonzero is true),
// except that a float that is not a whole number is an error for an integer
// dtype; strings convert only to strings.
func Convert(t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	if t.DType == dt {
		return t, nil
	}
	if t.DType == tensor.String || dt == tensor.String {
		return nil, fmt.Errorf("cannot convert %v to %v", t.DType, dt)
	}
	out := tensor.New(dt, t.Shape...)
	for i := 0; i < t.Len(); i++ {
		if err := setNumber(out, i, t, i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setNumber stores src's element j at dst's element i.
func setNumber(dst *tensor.Tensor, i int, src *tensor.Tensor, j int) error {
	switch src.DType {
	case tensor.Int64, tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint8, tensor.Bool:
		v := intAt(src, j)
		switch dst.DType {
		case tensor.Bool:
			dst.Raw[i] = b2b(v != 0)
		case tensor.Int64:
			tensor.Data[int64](dst)[i] = v
		case tensor.Int32:
			tensor.Data[int32](dst)[i] = int32(v)
		case tensor.Float32:
			tensor.Data[float32](dst)[i] = float32(v)
		case tensor.Float64:
			tensor.Data[float64](dst)[i] = float64(v)
		default:
			return fmt.Errorf("cannot convert %v to %v", src.DType, dst.DType)
		}
		return nil
	}
	v := src.Float64At(j)
	switch dst.DType {
	case tensor.Bool:
		dst.Raw[i] = b2b(v != 0)
	case tensor.Float32:
		tensor.Data[float32](dst)[i] = float32(v)
	case tensor.Float64:
		tensor.Data[float64](dst)[i] = v
	case tensor.Int64, tensor.Int32:
		if v != float64(int64(v)) {
			return fmt.Errorf("value %v at %d is not an integer", v, j)
		}
		if dst.DType == tensor.Int64 {
			tensor.Data[int64](dst)[i] = int64(v)
		} else {
			tensor.Data[int32](dst)[i] = int32(v)
		}
	default:
		return fmt.Errorf("cannot convert %v to %v", src.DType, dst.DType)
	}
	return nil
}

// b2b is a bool's byte in a tensor.Bool.
func b2b(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func intAt(t *tensor.Tensor, j int) int64 {
	switch t.DType {
	case tensor.Int64:
		return tensor.Data[int64](t)[j]
	case tensor.Int32:
		return int64(tensor.Data[int32](t)[j])
	case tensor.Int16:
		return int64(tensor.Data[int16](t)[j])
	case tensor.Int8:
		return int64(tensor.Data[int8](t)[j])
	}
	return int64(t.Raw[j]) // Uint8, Bool
}

// Read reads a directory of .npy files or a .parquet file.
func Read(path string) (*Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if st.IsDir() {
		return ReadNPYDir(path)
	}
	if strings.EqualFold(filepath.Ext(path), ".parquet") {
		return ReadParquet(path)
	}
	return nil, fmt.Errorf("dataset: %s: want a directory of .npy files or a .parquet file", path)
}

// ReadNPYDir reads each NAME.npy in dir as column NAME (sorted by name).
func ReadNPYDir(dir string) (*Dataset, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.npy"))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dataset: no .npy files in %s", dir)
	}
	sort.Strings(files)
	d := &Dataset{Path: dir, Format: "npy", N: -1, cols: map[string]*tensor.Tensor{}}
	for _, f := range files {
		t, err := tensor.ReadNPYFile(f)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		if err := d.add(strings.TrimSuffix(filepath.Base(f), ".npy"), t); err != nil {
			return nil, err
		}
	}
	return d, nil
}
