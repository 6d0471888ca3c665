package dataset

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/tensor"
)

// ReadParquet reads a Parquet file: each top-level field is a column. A
// required or optional scalar field gives an [N] tensor; a list field (the
// LIST logical type or a bare repeated field) whose lists all have the
// same length L gives [N, L]. BOOLEAN reads as bool, INT32 and INT64 as
// int64, FLOAT as float32, DOUBLE as float64, byte arrays as strings. A null
// is an error: training data has no missing values.
func ReadParquet(path string) (*Dataset, error) {
	// Opening the file first makes a corrupt one an error (NewReader
	// panics on what it cannot open).
	f, pf, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := reserveLimit(pf.Size())
	r := parquet.NewReader(pf)
	defer r.Close()
	schema := r.Schema()
	paths := schema.Columns()
	cols := make([]*column, len(paths))
	for _, p := range paths {
		leaf, ok := schema.Lookup(p...)
		if !ok {
			return nil, fmt.Errorf("dataset: %s: column %v not in the schema", path, p)
		}
		c, err := newColumn(p, leaf)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		c.expect, c.limit = int(min(r.NumRows(), 1<<40)), limit
		cols[leaf.ColumnIndex] = c
	}
	buf := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			for _, c := range cols {
				c.cur = 0
			}
			for _, v := range row {
				if err := cols[v.Column()].add(v); err != nil {
					return nil, fmt.Errorf("dataset: %s: example %d: %w", path, cols[0].rows, err)
				}
			}
			for _, c := range cols {
				if err := c.endRow(); err != nil {
					return nil, fmt.Errorf("dataset: %s: %w", path, err)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
	}
	d := &Dataset{Path: path, Format: "parquet", N: -1, cols: map[string]*tensor.Tensor{}}
	for _, c := range cols {
		if err := d.add(c.name, c.tensor()); err != nil {
			return nil, err
		}
	}
	if d.N < 0 {
		return nil, fmt.Errorf("dataset: %s has no columns", path)
	}
	return d, nil
}

// column accumulates one leaf column's values.
type column struct {
	name     string
	kind     parquet.Kind
	repeated bool
	maxDef   int
	f64      []float64
	i64      []int64
	str      []string
	rows     int
	width    int // values per example, -1 until the first example ends
	cur      int // values in the current example
	// expect is the number of examples the column will hold (0 if not
	// known): once the first example gives the width, the values' slice
	// is allocated once rather than grown by doubling, up to limit values.
	expect, limit int
}

func newColumn(path []string, leaf parquet.LeafColumn) (*column, error) {
	c := &column{name: path[0], kind: leaf.Node.Type().Kind(), repeated: leaf.MaxRepetitionLevel > 0, maxDef: leaf.MaxDefinitionLevel, width: -1}
	if leaf.MaxRepetitionLevel > 1 {
		return nil, fmt.Errorf("column %q: nested lists are not a feature column", c.name)
	}
	// A list's leaf path is name/list/element; anything else with more than
	// one component is a struct field.
	if len(path) > 1 && !(c.repeated && len(path) == 3) {
		return nil, fmt.Errorf("column %v: a group is not a feature column (want a scalar or a list of scalars)", path)
	}
	switch c.kind {
	case parquet.Boolean, parquet.Int32, parquet.Int64, parquet.Float, parquet.Double, parquet.ByteArray, parquet.FixedLenByteArray:
	default:
		return nil, fmt.Errorf("column %q: physical type %v is not supported", c.name, c.kind)
	}
	return c, nil
}

func (c *column) add(v parquet.Value) error {
	if v.DefinitionLevel() < c.maxDef {
		if c.repeated && v.RepetitionLevel() == 0 {
			return nil // an empty list
		}
		return fmt.Errorf("column %q is null", c.name)
	}
	switch c.kind {
	case parquet.Boolean:
		c.i64 = append(c.i64, int64(b2b(v.Boolean())))
	case parquet.Int32:
		c.i64 = append(c.i64, int64(v.Int32()))
	case parquet.Int64:
		c.i64 = append(c.i64, v.Int64())
	case parquet.Float:
		c.f64 = append(c.f64, float64(v.Float()))
	case parquet.Double:
		c.f64 = append(c.f64, v.Double())
	default:
		c.str = append(c.str, string(v.ByteArray()))
	}
	c.cur++
	return nil
}

func (c *column) endRow() error {
	if !c.repeated && c.cur != 1 {
		return fmt.Errorf("column %q: example %d has %d values", c.name, c.rows, c.cur)
	}
	if c.width < 0 {
		c.width = c.cur
		c.reserve()
	} else if c.cur != c.width {
		return fmt.Errorf("column %q: example %d has %d values, earlier ones %d (lists must have a fixed size)", c.name, c.rows, c.cur, c.width)
	}
	c.rows++
	return nil
}

// reserve gives the values' slice room for expect examples of width
// values, at most limit values (more grows as appended).
func (c *column) reserve() {
	n := min(c.expect, c.limit) * c.width
	n = min(n, c.limit) - c.width // room beyond the first example's values
	switch {
	case n <= 0:
	case c.f64 != nil:
		c.f64 = slices.Grow(c.f64, n)
	case c.i64 != nil:
		c.i64 = slices.Grow(c.i64, n)
	case c.str != nil:
		c.str = slices.Grow(c.str, n)
	}
}

// reserveLimit bounds the values reserve allocates up front for a file of
// size bytes: its row count comes from the file's footer, so a file may
// not make the reader allocate more than a few times its own size before
// its values are actually decoded.
func reserveLimit(size int64) int {
	return int(min(max(size, 1<<17), 1<<31))
}

func (c *column) tensor() *tensor.Tensor {
	shape := []int{c.rows}
	if c.repeated {
		shape = append(shape, max(c.width, 0))
	}
	switch c.kind {
	case parquet.Boolean:
		t := tensor.New(tensor.Bool, shape...)
		for i, v := range c.i64 {
			t.Raw[i] = byte(v)
		}
		return t
	case parquet.Int32, parquet.Int64:
		t := tensor.New(tensor.Int64, shape...)
		copy(tensor.Data[int64](t), c.i64)
		return t
	case parquet.Float:
		t := tensor.New(tensor.Float32, shape...)
		for i, v := range c.f64 {
			tensor.Data[float32](t)[i] = float32(v)
		}
		return t
	case parquet.Double:
		t := tensor.New(tensor.Float64, shape...)
		copy(tensor.Data[float64](t), c.f64)
		return t
	}
	s := c.str
	if s == nil {
		s = []string{}
	}
	return &tensor.Tensor{DType: tensor.String, Shape: shape, Strs: s}
}
