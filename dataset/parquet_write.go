package dataset

import (
	"fmt"
	"os"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/sextant-ml/sextant/tensor"
)

// WriteParquet writes columns (first axis = example) to a Parquet file in
// the layout ReadParquet reads: [N] columns as required scalars, [N, L]
// columns as LIST columns of L elements. Float32, float64, int64, int32
// (written as INT64) and bool are supported.
func WriteParquet(path string, names []string, cols []*tensor.Tensor) error {
	w, err := CreateParquet(path, names, ParquetOptions{})
	if err != nil {
		return err
	}
	if err := w.Write(cols); err != nil {
		w.abort()
		return err
	}
	return w.Close()
}

// ParquetOptions tune a streamed table's layout. The zero value is
// parquet-go's defaults: no compression, one row group, 256 KiB pages.
type ParquetOptions struct {
	// RowGroupRows caps a row group's rows (the writer buffers one row
	// group). Tables read a user at a time ([ParquetFile.ReadRows]) want
	// bounded row groups and small pages: a read decodes whole pages.
	RowGroupRows int64
	// PageBytes is the page buffer size.
	PageBytes int
	// Snappy compresses pages with Snappy.
	Snappy bool
}

// ParquetWriter streams examples to a Parquet file in WriteParquet's
// layout, a batch of rows at a time, so a table of any length is written
// in memory bounded by a row group. The schema is fixed by the first
// batch; later batches must have the same dtypes and per-example shapes.
type ParquetWriter struct {
	path   string
	names  []string
	opt    ParquetOptions
	f      *os.File
	w      *parquet.Writer
	leaves []writeLeaf
	shapes [][]int        // per column: the per-example shape
	kinds  []parquet.Kind // per column: the physical type
	row    parquet.Row
	rows   int64
	closed bool
}

type writeLeaf struct {
	col    int // index into the batch
	width  int
	maxDef int
}

// CreateParquet creates the file at path for columns names.
func CreateParquet(path string, names []string, opt ParquetOptions) (*ParquetWriter, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("dataset: %s: no columns to write", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return &ParquetWriter{path: path, names: append([]string(nil), names...), opt: opt, f: f}, nil
}

// Rows is the number of rows written so far.
func (w *ParquetWriter) Rows() int64 { return w.rows }

// Write appends a batch: one tensor per name, in CreateParquet's order,
// all with the same number of examples (possibly 0).
func (w *ParquetWriter) Write(cols []*tensor.Tensor) error {
	if w.closed {
		return fmt.Errorf("dataset: %s: write after close", w.path)
	}
	d, err := New(w.names, cols)
	if err != nil {
		return fmt.Errorf("dataset: %s: %w", w.path, err)
	}
	if w.w == nil {
		if err := w.open(d); err != nil {
			return err
		}
	}
	for i, n := range w.names {
		t := d.cols[n]
		k, _ := parquetKind(t.DType)
		if !sameShape(w.shapes[i], t.Shape[1:]) || k != w.kinds[i] {
			return fmt.Errorf("dataset: %s: column %q: batch of %v examples shaped %v, the table's %v of %v",
				w.path, n, t.DType, t.Shape[1:], w.kinds[i], w.shapes[i])
		}
	}
	for i := 0; i < d.N; i++ {
		w.row = w.row[:0]
		for c, l := range w.leaves {
			t := cols[l.col]
			for k := 0; k < l.width; k++ {
				rep := 0
				if k > 0 {
					rep = 1
				}
				w.row = append(w.row, valueAt(t, i*l.width+k).Level(rep, l.maxDef, c))
			}
		}
		if _, err := w.w.WriteRows([]parquet.Row{w.row}); err != nil {
			return fmt.Errorf("dataset: %s: %w", w.path, err)
		}
	}
	w.rows += int64(d.N)
	return nil
}

// open fixes the schema from the first batch.
func (w *ParquetWriter) open(d *Dataset) error {
	group := parquet.Group{}
	for _, n := range w.names {
		t := d.cols[n]
		kind, typ := parquetKind(t.DType)
		if typ == nil {
			return fmt.Errorf("dataset: column %q: cannot write %v to Parquet", n, t.DType)
		}
		w.kinds = append(w.kinds, kind)
		switch len(t.Shape) {
		case 1:
			group[n] = parquet.Leaf(typ)
		case 2:
			group[n] = parquet.List(parquet.Leaf(typ))
		default:
			return fmt.Errorf("dataset: column %q: a rank-%d column has no Parquet layout (want [N] or [N, L])", n, len(t.Shape))
		}
		w.shapes = append(w.shapes, append([]int(nil), t.Shape[1:]...))
	}
	schema := parquet.NewSchema("examples", group)
	w.leaves = make([]writeLeaf, len(w.names))
	for _, p := range schema.Columns() {
		lc, _ := schema.Lookup(p...)
		col := -1
		for i, n := range w.names {
			if n == p[0] {
				col = i
			}
		}
		width := 1
		if s := w.shapes[col]; len(s) == 1 {
			width = s[0]
		}
		w.leaves[lc.ColumnIndex] = writeLeaf{col: col, width: width, maxDef: lc.MaxDefinitionLevel}
	}
	opts := []parquet.WriterOption{schema}
	if w.opt.RowGroupRows > 0 {
		opts = append(opts, parquet.MaxRowsPerRowGroup(w.opt.RowGroupRows))
	}
	if w.opt.PageBytes > 0 {
		opts = append(opts, parquet.PageBufferSize(w.opt.PageBytes))
	}
	if w.opt.Snappy {
		opts = append(opts, parquet.Compression(&snappy.Codec{}))
	}
	w.w = parquet.NewWriter(w.f, opts...)
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// parquetKind is the Parquet type a dtype is written as (int32 and int64
// share INT64); a nil type when it has none.
func parquetKind(dt tensor.DType) (parquet.Kind, parquet.Type) {
	switch dt {
	case tensor.Float32:
		return parquet.Float, parquet.FloatType
	case tensor.Float64:
		return parquet.Double, parquet.DoubleType
	case tensor.Int64, tensor.Int32:
		return parquet.Int64, parquet.Int64Type
	case tensor.Bool:
		return parquet.Boolean, parquet.BooleanType
	}
	return 0, nil
}

// Close finishes the file. Without a batch written there is no schema:
// that is an error, and the file is removed.
func (w *ParquetWriter) Close() error {
	if w.closed {
		return nil
	}
	if w.w == nil {
		w.abort()
		return fmt.Errorf("dataset: %s: no batch written, so no schema", w.path)
	}
	w.closed = true
	err := w.w.Close()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dataset: %s: %w", w.path, err)
	}
	return nil
}

// abort closes and removes a file that will not be finished.
func (w *ParquetWriter) abort() {
	if !w.closed {
		w.closed = true
		w.f.Close()
		os.Remove(w.path)
	}
}

func valueAt(t *tensor.Tensor, i int) parquet.Value {
	switch t.DType {
	case tensor.Float32:
		return parquet.FloatValue(tensor.Data[float32](t)[i])
	case tensor.Float64:
		return parquet.DoubleValue(tensor.Data[float64](t)[i])
	case tensor.Int64:
		return parquet.Int64Value(tensor.Data[int64](t)[i])
	case tensor.Int32:
		return parquet.Int64Value(int64(tensor.Data[int32](t)[i]))
	}
	return parquet.BooleanValue(t.Raw[i] != 0)
}
