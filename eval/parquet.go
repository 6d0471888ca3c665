package eval

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/tensor"
)

// ReadParquet reads a Parquet file into a data set: each top-level column
// becomes a column of the same name. A column of scalars gives an [N] tensor;
// a list column (LIST logical type or a bare repeated field) whose lists all
// have the same length L gives [N, L]. Booleans read as bool, 32- and 64-bit
// integers as int64, FLOAT as float32, DOUBLE as float64 and byte arrays as
// strings. Nulls are errors: a data set for evaluation has no missing
// values.
func ReadParquet(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("eval: data: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("eval: data %s: %w", path, err)
	}
	d := &Dataset{Path: path, Format: "parquet"}
	for _, c := range pf.Root().Columns() {
		t, err := readParquetColumn(c, int(pf.NumRows()))
		if err != nil {
			return nil, fmt.Errorf("eval: data %s: column %q: %w", path, c.Name(), err)
		}
		if err := d.Add(c.Name(), t); err != nil {
			return nil, err
		}
	}
	if len(d.order) == 0 {
		return nil, fmt.Errorf("eval: data %s has no columns", path)
	}
	return d, nil
}

// leafOf descends a column to its single leaf.
func leafOf(c *parquet.Column) (*parquet.Column, error) {
	for !c.Leaf() {
		kids := c.Columns()
		if len(kids) != 1 {
			return nil, fmt.Errorf("a group of %d fields is not a feature column (want a scalar or a list of scalars)", len(kids))
		}
		c = kids[0]
	}
	return c, nil
}

// columnBuilder accumulates one column's values by example.
type columnBuilder struct {
	kind  parquet.Kind
	f64   []float64
	i64   []int64
	b     []bool
	s     []string
	rows  int
	width int // -1 until the first row ends
	cur   int // elements in the current row
}

func (cb *columnBuilder) endRow() error {
	if cb.width < 0 {
		cb.width = cb.cur
	} else if cb.cur != cb.width {
		return fmt.Errorf("example %d has %d values, earlier ones %d (lists must have a fixed size)", cb.rows, cb.cur, cb.width)
	}
	cb.rows++
	cb.cur = 0
	return nil
}

func (cb *columnBuilder) add(v parquet.Value) {
	switch cb.kind {
	case parquet.Boolean:
		cb.b = append(cb.b, v.Boolean())
	case parquet.Int32:
		cb.i64 = append(cb.i64, int64(v.Int32()))
	case parquet.Int64:
		cb.i64 = append(cb.i64, v.Int64())
	case parquet.Float:
		cb.f64 = append(cb.f64, float64(v.Float()))
	case parquet.Double:
		cb.f64 = append(cb.f64, v.Double())
	default:
		cb.s = append(cb.s, string(v.ByteArray()))
	}
	cb.cur++
}

func readParquetColumn(c *parquet.Column, numRows int) (*tensor.Tensor, error) {
	leaf, err := leafOf(c)
	if err != nil {
		return nil, err
	}
	cb := &columnBuilder{kind: leaf.Type().Kind(), width: -1}
	if cb.kind == parquet.Int96 {
		return nil, errors.New("INT96 columns are not supported")
	}
	repeated := leaf.MaxRepetitionLevel() > 0
	maxDef := leaf.MaxDefinitionLevel()
	pages := leaf.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 1024)
	started := false
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				if v.RepetitionLevel() == 0 && started {
					if err := cb.endRow(); err != nil {
						parquet.Release(p)
						return nil, err
					}
				}
				started = true
				switch {
				case v.DefinitionLevel() == maxDef:
					cb.add(v)
				case !repeated:
					parquet.Release(p)
					return nil, fmt.Errorf("example %d is null", cb.rows)
				}
				// A repeated column's lower definition level is an empty
				// or null list: no element.
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(p)
				return nil, err
			}
		}
		parquet.Release(p)
	}
	if started {
		if err := cb.endRow(); err != nil {
			return nil, err
		}
	}
	if cb.rows != numRows {
		return nil, fmt.Errorf("read %d examples, the file has %d", cb.rows, numRows)
	}
	shape := []int{cb.rows}
	if repeated {
		shape = append(shape, max(cb.width, 0))
	}
	var t *tensor.Tensor
	switch cb.kind {
	case parquet.Boolean:
		t = tensor.New(tensor.Bool, shape...)
		for i, b := range cb.b {
			if b {
				t.Raw[i] = 1
			}
		}
	case parquet.Int32, parquet.Int64:
		t = tensor.New(tensor.Int64, shape...)
		copy(tensor.Data[int64](t), cb.i64)
	case parquet.Float:
		t = tensor.New(tensor.Float32, shape...)
		o := tensor.Data[float32](t)
		for i, x := range cb.f64 {
			o[i] = float32(x)
		}
	case parquet.Double:
		t = tensor.New(tensor.Float64, shape...)
		copy(tensor.Data[float64](t), cb.f64)
	default:
		t = &tensor.Tensor{DType: tensor.String, Shape: shape, Strs: cb.s}
		if t.Strs == nil {
			t.Strs = []string{}
		}
	}
	return t, t.Check()
}
