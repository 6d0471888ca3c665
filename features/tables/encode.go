package tables

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// The tables are Parquet files of typed rows (ndRow, etaRow, coverageRow):
// parquet-go's typed writer copies a row's slices into its column buffers
// whole, several times faster than assembling generic values. Fields are
// declared in column-name order, the order of package dataset's writer,
// with [N, L] columns as LIST columns, so the files have its layout.
//
// Each chunk of users (parallel.go) is encoded by a worker into an
// in-memory Parquet file of one row group per split (a part), a batch of
// flushRows rows at a time into small Snappy pages; the calling goroutine
// appends the parts to the output files in order, and with the same writer
// options on both sides parquet-go copies the parts' compressed pages
// verbatim. Memory stays bounded whatever the population, and a reader of
// one user's rows (dataset.ParquetFile.ReadRows) decodes a few small pages
// per column.
const (
	flushRows = 4096
	pageBytes = 64 << 10
)

// writerOptions are the parts' and the outputs' Parquet settings for rows
// of T; the schema is named as dataset's.
func writerOptions[T any]() []parquet.WriterOption {
	return []parquet.WriterOption{parquet.NewSchema("examples", parquet.SchemaOf(new(T))),
		parquet.PageBufferSize(pageBytes), parquet.Compression(&snappy.Codec{})}
}

// part encodes one split's rows of a chunk. Rows are filled in place (row)
// so their slices are reused from chunk to chunk.
type part[T any] struct {
	rows  []T
	n     int   // rows filled and not yet written
	total int64 // rows in the current chunk
	buf   *bytes.Buffer
	w     *parquet.GenericWriter[T]
}

// begin starts a chunk.
func (p *part[T]) begin() {
	p.buf = new(bytes.Buffer)
	if p.w == nil {
		p.w = parquet.NewGenericWriter[T](p.buf, writerOptions[T]()...)
	} else {
		p.w.Reset(p.buf)
	}
	p.n, p.total = 0, 0
}

// row returns the next row to fill; its slices hold an earlier row's
// values (fill them with append(s[:0], ...)). endRow counts it.
func (p *part[T]) row() *T {
	if p.n == len(p.rows) {
		p.rows = append(p.rows, *new(T))
	}
	return &p.rows[p.n]
}

// endRow counts the row filled and writes a batch every flushRows.
func (p *part[T]) endRow() error {
	p.n++
	p.total++
	if p.n >= flushRows {
		return p.flush()
	}
	return nil
}

func (p *part[T]) flush() error {
	if p.n == 0 {
		return nil
	}
	if _, err := p.w.Write(p.rows[:p.n]); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	p.n = 0
	return nil
}

// end finishes the chunk: its encoded file, nil when it has no rows.
func (p *part[T]) end() ([]byte, error) {
	if err := p.flush(); err != nil {
		return nil, err
	}
	if err := p.w.Close(); err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	if p.total == 0 {
		return nil, nil
	}
	return p.buf.Bytes(), nil
}

// output is a table's file, written a part at a time.
type output[T any] struct {
	path string
	f    *os.File
	w    *parquet.GenericWriter[T]
	rows int64
}

func createOutput[T any](path string) (*output[T], error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	return &output[T]{path: path, f: f, w: parquet.NewGenericWriter[T](f, writerOptions[T]()...)}, nil
}

// commit appends a part's row groups (b from part.end; nil adds nothing).
func (o *output[T]) commit(b []byte) error {
	if b == nil {
		return nil
	}
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("tables: %s: a chunk: %w", o.path, err)
	}
	for _, rg := range pf.RowGroups() {
		n, err := o.w.WriteRowGroup(rg)
		o.rows += n
		if err != nil {
			return fmt.Errorf("tables: %s: %w", o.path, err)
		}
	}
	return nil
}

// close finishes the file. A table with no examples is an error, and its
// file is removed.
func (o *output[T]) close() error {
	err := o.w.Close()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tables: %s: %w", o.path, err)
	}
	if o.rows == 0 {
		os.Remove(o.path)
		return fmt.Errorf("tables: %s would have no examples", o.path)
	}
	return nil
}

// abort closes a file that will not be finished and removes it.
func (o *output[T]) abort() {
	o.f.Close()
	os.Remove(o.path)
}

// splits are a run's train and test files.
type splits[T any] struct{ train, test *output[T] }

// createSplits makes out and creates train.parquet and test.parquet in it.
func createSplits[T any](out string) (*splits[T], error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	train, err := createOutput[T](filepath.Join(out, "train.parquet"))
	if err != nil {
		return nil, err
	}
	test, err := createOutput[T](filepath.Join(out, "test.parquet"))
	if err != nil {
		train.abort()
		return nil, err
	}
	return &splits[T]{train, test}, nil
}

// commit appends a chunk's parts, in file order.
func (s *splits[T]) commit(train, test []byte) error {
	if err := s.train.commit(train); err != nil {
		return err
	}
	return s.test.commit(test)
}

// close finishes both files; after a failed run (err) it removes them and
// returns err.
func (s *splits[T]) close(err error) error {
	if err != nil {
		s.train.abort()
		s.test.abort()
		return err
	}
	if err := s.train.close(); err != nil {
		s.test.abort()
		return err
	}
	return s.test.close()
}

// chunkParts are a worker's train and test parts.
type chunkParts[T any] struct{ train, test part[T] }

func (c *chunkParts[T]) begin() {
	c.train.begin()
	c.test.begin()
}

func (c *chunkParts[T]) end() (train, test []byte, err error) {
	if train, err = c.train.end(); err != nil {
		return nil, nil, err
	}
	test, err = c.test.end()
	return train, test, err
}
