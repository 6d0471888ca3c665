package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/tensor"
)

// Groups maps each value of an integer key column of a Parquet table whose
// rows are grouped by that key (every key's rows contiguous, as the
// feature tables are by user_id) to its row range. Keys are in file order.
type Groups struct {
	// Keys are the distinct keys in the order they first appear.
	Keys []int64
	// Start[i] is key i's first row; Start[len(Keys)] is the row count.
	Start []int64
}

// Range returns group i's rows [lo, hi).
func (g *Groups) Range(i int) (lo, hi int64) { return g.Start[i], g.Start[i+1] }

// Rows is the table's row count.
func (g *Groups) Rows() int64 { return g.Start[len(g.Keys)] }

// ParquetFile is an open Parquet table for reading ranges of rows many
// times over (its footer and page index parsed once). It is safe for
// concurrent use.
type ParquetFile struct {
	path string
	f    *os.File
	pf   *parquet.File
	size int64
}

// OpenParquet opens the Parquet file at path.
func OpenParquet(path string) (*ParquetFile, error) {
	f, pf, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	return &ParquetFile{path: path, f: f, pf: pf, size: pf.Size()}, nil
}

// Close closes the file.
func (p *ParquetFile) Close() error { return p.f.Close() }

// Rows is the file's row count.
func (p *ParquetFile) Rows() int64 { return p.pf.NumRows() }

// HasColumn reports whether the file has a top-level column name.
func (p *ParquetFile) HasColumn(name string) bool {
	for _, c := range p.pf.Schema().Columns() {
		if c[0] == name {
			return true
		}
	}
	return false
}

// IndexParquet builds the Groups of column key of the Parquet file at path
// (see [ParquetFile.Index]).
func IndexParquet(path, key string) (*Groups, error) {
	p, err := OpenParquet(path)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Index(key)
}

// Index builds the Groups of column key in one streaming pass over that
// column alone (a page at a time). The key must be a required INT32 or
// INT64 column; a key that reappears after another key's rows is an error
// (the table is not grouped by it).
func (p *ParquetFile) Index(key string) (*Groups, error) {
	path, pf := p.path, p.pf
	leaf, ok := pf.Schema().Lookup(key)
	if !ok {
		return nil, fmt.Errorf("dataset: %s: no column %q", path, key)
	}
	if k := leaf.Node.Type().Kind(); (k != parquet.Int32 && k != parquet.Int64) || leaf.MaxRepetitionLevel > 0 {
		return nil, fmt.Errorf("dataset: %s: key column %q must be a scalar integer, not %v", path, key, leaf.Node.Type())
	}
	g := &Groups{}
	seen := map[int64]bool{}
	var row int64
	buf := make([]parquet.Value, 1024)
	for _, rg := range pf.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		err := func() error {
			defer pages.Close()
			for {
				p, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				vr := p.Values()
				for {
					n, err := vr.ReadValues(buf)
					for _, v := range buf[:n] {
						if v.IsNull() {
							parquet.Release(p)
							return fmt.Errorf("row %d: key %q is null", row, key)
						}
						k := v.Int64()
						if v.Kind() == parquet.Int32 {
							k = int64(v.Int32())
						}
						if len(g.Keys) == 0 || g.Keys[len(g.Keys)-1] != k {
							if seen[k] {
								parquet.Release(p)
								return fmt.Errorf("row %d: key %d appears again after other keys (the table is not grouped by %q)", row, k, key)
							}
							seen[k] = true
							g.Keys = append(g.Keys, k)
							g.Start = append(g.Start, row)
						}
						row++
					}
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						parquet.Release(p)
						return err
					}
				}
				parquet.Release(p)
			}
		}()
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
	}
	if row != pf.NumRows() {
		return nil, fmt.Errorf("dataset: %s: key column %q has %d rows, the file %d", path, key, row, pf.NumRows())
	}
	g.Start = append(g.Start, row)
	return g, nil
}

// ReadParquetRows reads rows [lo, hi) of the named columns of the Parquet
// file at path (see [ParquetFile.ReadRows]).
func ReadParquetRows(path string, columns []string, lo, hi int64) (*Dataset, error) {
	p, err := OpenParquet(path)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.ReadRows(columns, lo, hi)
}

// ReadRows reads rows [lo, hi) of the named columns (all of them
// when columns is nil) of the file, as ReadParquet would
// read them but decoding only those columns' pages that hold the range:
// each column chunk seeks to the range's first row (by the offset index
// when the file has one), and memory is bounded by the range, not the
// file. A range outside [0, rows] or with hi < lo is an error; an empty
// range gives N = 0 (and list columns shaped [0, 0]).
func (p *ParquetFile) ReadRows(columns []string, lo, hi int64) (*Dataset, error) {
	path, pf := p.path, p.pf
	if lo < 0 || hi < lo || hi > pf.NumRows() {
		return nil, fmt.Errorf("dataset: %s: rows [%d, %d) are not within the file's %d", path, lo, hi, pf.NumRows())
	}
	schema := pf.Schema()
	all := schema.Columns()
	if columns == nil {
		for _, p := range all {
			if !slices.Contains(columns, p[0]) {
				columns = append(columns, p[0])
			}
		}
	}
	d := &Dataset{Path: path, Format: "parquet", N: -1, cols: map[string]*tensor.Tensor{}}
	for _, name := range columns {
		var leafPath []string
		for _, p := range all {
			if p[0] == name {
				if leafPath != nil {
					return nil, fmt.Errorf("dataset: %s: column %v: a group is not a feature column", path, p)
				}
				leafPath = p
			}
		}
		if leafPath == nil {
			return nil, fmt.Errorf("dataset: %s: no column %q", path, name)
		}
		leaf, _ := schema.Lookup(leafPath...)
		c, err := newColumn(leafPath, leaf)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		c.expect, c.limit = int(hi-lo), reserveLimit(p.size)
		if err := readColumnRows(pf, leaf.ColumnIndex, c, lo, hi); err != nil {
			return nil, fmt.Errorf("dataset: %s: rows [%d, %d): %w", path, lo, hi, err)
		}
		if int64(c.rows) != hi-lo {
			return nil, fmt.Errorf("dataset: %s: column %q has %d of rows [%d, %d)", path, name, c.rows, lo, hi)
		}
		if err := d.add(c.name, c.tensor()); err != nil {
			return nil, err
		}
	}
	if d.N < 0 {
		return nil, fmt.Errorf("dataset: %s: no columns to read", path)
	}
	return d, nil
}

// readColumnRows appends rows [lo, hi) of leaf column ci to c, visiting
// only the row groups that overlap the range.
func readColumnRows(pf *parquet.File, ci int, c *column, lo, hi int64) error {
	var first int64 // the row group's first row in the file
	buf := make([]parquet.Value, 256)
	for _, rg := range pf.RowGroups() {
		n := rg.NumRows()
		from, to := max(lo, first), min(hi, first+n)
		first += n
		if from >= to {
			if first >= hi {
				break
			}
			continue
		}
		if err := readChunkRows(rg.ColumnChunks()[ci], c, from-(first-n), to-from, buf); err != nil {
			return err
		}
	}
	return nil
}

// readChunkRows appends count rows of a column chunk from its row skip on.
func readChunkRows(chunk parquet.ColumnChunk, c *column, skip, count int64, buf []parquet.Value) error {
	pages := chunk.Pages()
	defer pages.Close()
	if err := pages.SeekToRow(skip); err != nil {
		return err
	}
	var done int64 // rows finished
	started := false
	for done < count {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		err = func() error {
			defer parquet.Release(p)
			vr := p.Values()
			for {
				n, rerr := vr.ReadValues(buf)
				for _, v := range buf[:n] {
					if v.RepetitionLevel() == 0 {
						if started {
							if err := c.endRow(); err != nil {
								return err
							}
							done++
						}
						if done == count {
							return nil
						}
						started = true
						c.cur = 0
					}
					if err := c.add(v); err != nil {
						return err
					}
				}
				if errors.Is(rerr, io.EOF) {
					return nil
				}
				if rerr != nil {
					return rerr
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	if started && done < count {
		if err := c.endRow(); err != nil {
			return err
		}
		done++
	}
	if done != count {
		return fmt.Errorf("column %q: %d of %d rows in its row group", c.name, done, count)
	}
	return nil
}

// openParquet opens path as a Parquet file (page index read, when present,
// for seeking).
func openParquet(path string) (*os.File, *parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return f, pf, nil
}
