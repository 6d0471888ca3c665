package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// DefaultChunkRows is about how many rows a Source hands over at a time
// when its caller does not say: rounded up to a whole number of batches,
// so a model runs on exactly the batches it would run on over the whole
// table. A next-destination row is a few KiB decoded, so a chunk is a few
// MiB.
const DefaultChunkRows = 2048

// Source is a data set read a chunk of rows at a time, in order: a
// Parquet table read by row ranges ([dataset.ParquetFile.ReadRows], only
// the pages holding the range are decoded), or a data set already in
// memory (a directory of .npy files, or one given), whose chunks are views
// of it. What the evaluation keeps across chunks is per-example numbers,
// not rows, so its memory is bounded by a chunk plus those.
type Source struct {
	// Path and Format describe the data as [dataset.Dataset] does.
	Path, Format string
	// N is the number of rows.
	N int

	pf    *dataset.ParquetFile
	whole *dataset.Dataset
}

// OpenSource opens a .parquet file for streaming; a directory of .npy
// files is read whole (it is one array per column on disk anyway).
func OpenSource(path string) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if st.IsDir() || !strings.EqualFold(filepath.Ext(path), ".parquet") {
		d, err := dataset.Read(path)
		if err != nil {
			return nil, err
		}
		return SourceOf(d), nil
	}
	pf, err := dataset.OpenParquet(path)
	if err != nil {
		return nil, err
	}
	return &Source{Path: path, Format: "parquet", N: int(pf.Rows()), pf: pf}, nil
}

// SourceOf streams a data set held in memory, in chunks that are views of
// its columns.
func SourceOf(d *dataset.Dataset) *Source {
	return &Source{Path: d.Path, Format: d.Format, N: d.N, whole: d}
}

// Close closes the file, if any.
func (s *Source) Close() error {
	if s.pf != nil {
		return s.pf.Close()
	}
	return nil
}

// Rows reads rows [lo, hi) of the named columns (all when nil).
func (s *Source) Rows(columns []string, lo, hi int) (*dataset.Dataset, error) {
	if s.pf != nil {
		return s.pf.ReadRows(columns, int64(lo), int64(hi))
	}
	if lo < 0 || hi < lo || hi > s.N {
		return nil, fmt.Errorf("dataset: rows [%d, %d) are not within the data's %d", lo, hi, s.N)
	}
	if columns == nil {
		columns = s.whole.Columns()
	}
	cols := make([]*tensor.Tensor, len(columns))
	for i, name := range columns {
		t, ok := s.whole.Column(name)
		if !ok {
			return nil, fmt.Errorf("dataset: no column %q (columns: %v)", name, s.whole.Columns())
		}
		cols[i] = dataset.Rows(t, lo, hi)
	}
	d, err := dataset.New(columns, cols)
	if err != nil {
		return nil, err
	}
	d.Path, d.Format = s.Path, s.Format
	return d, nil
}

// Head reads the first min(n, N) rows of every column: the columns' names,
// dtypes and shapes, and examples for a latency measurement.
func (s *Source) Head(n int) (*dataset.Dataset, error) {
	return s.Rows(nil, 0, min(max(n, 1), s.N))
}

// UserGroups returns the row range of each value of the integer column
// key when the rows are grouped by it (each key's rows contiguous, as the
// feature tables are by user_id), or nil when they are not or the data is
// in memory.
func (s *Source) UserGroups(key string) *dataset.Groups {
	if s.pf == nil {
		return nil
	}
	g, err := s.pf.Index(key)
	if err != nil {
		return nil
	}
	return g
}

// chunkRows rounds rows (DefaultChunkRows when ≤ 0) up to a multiple of
// batch.
func chunkRows(rows, batch int) int {
	if rows <= 0 {
		rows = DefaultChunkRows
	}
	if batch <= 0 {
		return rows
	}
	return (rows + batch - 1) / batch * batch
}

// Each calls fn on consecutive chunks of about rows rows (rounded up to a
// multiple of batch; see DefaultChunkRows) holding the named columns (all
// when nil); lo is the chunk's first row. It stops at fn's first error.
func (s *Source) Each(ctx context.Context, rows, batch int, columns []string, fn func(lo int, d *dataset.Dataset) error) error {
	step := chunkRows(rows, batch)
	if s.whole != nil && s.N <= step && columns == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(0, s.whole)
	}
	for lo := 0; lo < s.N; lo += step {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+step, s.N)
		d, err := s.Rows(columns, lo, hi)
		if err != nil {
			return err
		}
		if err := fn(lo, d); err != nil {
			return err
		}
	}
	return nil
}

// Binder is implemented by predictors that read their inputs from the
// data set they were made with (a ModelPredictor): Bind points them at
// another one, e.g. the next chunk of a Source.
type Binder interface {
	Bind(d *dataset.Dataset) error
}

// PredictChunk runs p over every example of the chunk d (binding it first
// when it is a Binder), in batches of at most batch starting at d's first
// row, as PredictAll does.
func PredictChunk(ctx context.Context, p Predictor, d *dataset.Dataset, batch int) (Scores, error) {
	if b, ok := p.(Binder); ok {
		if err := b.Bind(d); err != nil {
			return Scores{}, err
		}
	}
	return PredictAll(ctx, p, d, batch)
}

// offsetErr says which rows of the source a chunk's error is about.
func offsetErr(err error, lo int, d *dataset.Dataset) error {
	return fmt.Errorf("rows [%d, %d): %w", lo, lo+d.N, err)
}
