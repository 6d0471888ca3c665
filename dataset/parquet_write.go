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
	n, err := w.check(cols)
	if err != nil {
		return err
	}
	src := w.sources(cols)
	for i := 0; i < n; i++ {
		w.row = w.row[:0]
		for c := range w.leaves {
			w.row = src[c].appendRow(w.row, i)
		}
		if _, err := w.w.WriteRows([]parquet.Row{w.row}); err != nil {
			return fmt.Errorf("dataset: %s: %w", w.path, err)
		}
	}
	w.rows += int64(n)
	return nil
}

// check validates a batch against the table's schema (fixing the schema
// from the first batch) and returns its number of examples.
func (w *ParquetWriter) check(cols []*tensor.Tensor) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("dataset: %s: write after close", w.path)
	}
	d, err := New(w.names, cols)
	if err != nil {
		return 0, fmt.Errorf("dataset: %s: %w", w.path, err)
	}
	if w.w == nil {
		if err := w.open(d); err != nil {
			return 0, err
		}
	}
	for i, n := range w.names {
		t := d.cols[n]
		k, _ := parquetKind(t.DType)
		if !sameShape(w.shapes[i], t.Shape[1:]) || k != w.kinds[i] {
			return 0, fmt.Errorf("dataset: %s: column %q: batch of %v examples shaped %v, the table's %v of %v",
				w.path, n, t.DType, t.Shape[1:], w.kinds[i], w.shapes[i])
		}
	}
	return d.N, nil
}

// sources resolves each leaf's typed data in a checked batch once, so
// building a row does no per-value type switch.
func (w *ParquetWriter) sources(cols []*tensor.Tensor) []leafSource {
	src := make([]leafSource, len(w.leaves))
	for c, l := range w.leaves {
		t := cols[l.col]
		s := leafSource{dtype: t.DType, width: l.width, maxDef: l.maxDef, column: c}
		switch t.DType {
		case tensor.Float32:
			s.f32 = tensor.Data[float32](t)
		case tensor.Float64:
			s.f64 = tensor.Data[float64](t)
		case tensor.Int64:
			s.i64 = tensor.Data[int64](t)
		case tensor.Int32:
			s.i32 = tensor.Data[int32](t)
		default:
			s.raw = t.Raw
		}
		src[c] = s
	}
	return src
}

// leafSource is one leaf column's data in a batch.
type leafSource struct {
	dtype         tensor.DType
	width, maxDef int
	column        int
	f32           []float32
	f64           []float64
	i64           []int64
	i32           []int32
	raw           []byte
}

// appendRow appends example i's values of the leaf to row: a list's first
// element at repetition level 0, the rest at 1.
func (s *leafSource) appendRow(row parquet.Row, i int) parquet.Row {
	lo, hi := i*s.width, (i+1)*s.width
	rep := 0
	switch s.dtype {
	case tensor.Float32:
		for _, x := range s.f32[lo:hi] {
			row = append(row, parquet.FloatValue(x).Level(rep, s.maxDef, s.column))
			rep = 1
		}
	case tensor.Float64:
		for _, x := range s.f64[lo:hi] {
			row = append(row, parquet.DoubleValue(x).Level(rep, s.maxDef, s.column))
			rep = 1
		}
	case tensor.Int64:
		for _, x := range s.i64[lo:hi] {
			row = append(row, parquet.Int64Value(x).Level(rep, s.maxDef, s.column))
			rep = 1
		}
	case tensor.Int32:
		for _, x := range s.i32[lo:hi] {
			row = append(row, parquet.Int64Value(int64(x)).Level(rep, s.maxDef, s.column))
			rep = 1
		}
	default:
		for _, x := range s.raw[lo:hi] {
			row = append(row, parquet.BooleanValue(x != 0).Level(rep, s.maxDef, s.column))
			rep = 1
		}
	}
	return row
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
