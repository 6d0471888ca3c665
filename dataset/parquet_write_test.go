package dataset

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// TestParquetWriterBatches streams a table in uneven batches into small,
// compressed row groups and pages and reads back what WriteParquet of the
// whole table reads back: every column, every user's range.
func TestParquetWriterBatches(t *testing.T) {
	const n = 1000
	names := []string{"user_id", "feat", "label", "ok", "hour"}
	ids := make([]int64, n)
	feat := make([]float32, 3*n)
	label := make([]float64, n)
	ok := make([]byte, n)
	hour := make([]int32, n)
	for i := range n {
		ids[i] = int64(i / 7)
		feat[3*i], feat[3*i+1], feat[3*i+2] = float32(i), -float32(i), 0.5
		label[i] = float64(i) / 3
		ok[i] = byte(i % 2)
		hour[i] = int32(i % 168)
	}
	cols := func(lo, hi int) []*tensor.Tensor {
		return []*tensor.Tensor{
			tensor.From(ids[lo:hi], hi-lo), tensor.From(feat[3*lo:3*hi], hi-lo, 3), tensor.From(label[lo:hi], hi-lo),
			{DType: tensor.Bool, Shape: tensor.Shape{hi - lo}, Raw: ok[lo:hi]}, tensor.From(hour[lo:hi], hi-lo),
		}
	}
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.parquet")
	if err := WriteParquet(whole, names, cols(0, n)); err != nil {
		t.Fatal(err)
	}
	streamed := filepath.Join(dir, "streamed.parquet")
	w, err := CreateParquet(streamed, names, ParquetOptions{RowGroupRows: 64, PageBytes: 256, Snappy: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][2]int{{0, 1}, {1, 1}, {1, 300}, {300, 301}, {301, n}} {
		if err := w.Write(cols(b[0], b[1])); err != nil {
			t.Fatal(err)
		}
	}
	if w.Rows() != n {
		t.Fatalf("Rows() = %d, want %d", w.Rows(), n)
	}
	// A batch of another shape or type is refused.
	bad := cols(0, 2)
	bad[1] = tensor.From(feat[:4], 2, 2)
	if err := w.Write(bad); err == nil {
		t.Error("a batch of feat [2, 2] was written to a [N, 3] column")
	}
	bad = cols(0, 2)
	bad[2] = tensor.From([]float32{1, 2}, 2)
	if err := w.Write(bad); err == nil {
		t.Error("a float32 batch was written to a float64 column")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := ReadParquet(whole)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadParquet(streamed)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Columns(), b.Columns()) || a.N != n || b.N != n {
		t.Fatalf("columns %v (%d rows), want %v (%d)", b.Columns(), b.N, a.Columns(), a.N)
	}
	sameRows(t, a, b, 0, n)
	p, err := OpenParquet(streamed)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := len(p.pf.RowGroups()); got != (n+63)/64 {
		t.Errorf("%d row groups, want %d", got, (n+63)/64)
	}
	g, err := p.Index("user_id")
	if err != nil {
		t.Fatal(err)
	}
	for i := range g.Keys {
		lo, hi := g.Range(i)
		d, err := p.ReadRows(nil, lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, a, d, lo, hi)
	}
}

// TestParquetWriterNoBatch: a writer closed before any batch has no
// schema; that is an error and leaves no file.
func TestParquetWriterNoBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.parquet")
	w, err := CreateParquet(path, []string{"x"}, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("closing a writer with no batch succeeded")
	}
	if _, err := OpenParquet(path); err == nil {
		t.Error("the unfinished file is still there")
	}
}
