package dataset

import (
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/tensor"
)

func sample() ([]string, []*tensor.Tensor) {
	x := tensor.From([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3)
	d := tensor.From([]float64{0.5, -1, 2.25}, 3)
	y := tensor.From([]int64{2, 0, 1}, 3)
	ids := tensor.From([]int64{4, 5, 6, 7, 8, 9}, 3, 2)
	return []string{"x", "dist", "label", "ids"}, []*tensor.Tensor{x, d, y, ids}
}

func sameTensor(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if got.DType != want.DType || !got.Shape.Equal(want.Shape) {
		t.Fatalf("%s: got %v, want %v", name, got, want)
	}
	for i := 0; i < want.Len(); i++ {
		if got.Float64At(i) != want.Float64At(i) {
			t.Fatalf("%s[%d] = %v, want %v", name, i, got.Float64At(i), want.Float64At(i))
		}
	}
}

func TestParquetRoundTrip(t *testing.T) {
	names, cols := sample()
	path := filepath.Join(t.TempDir(), "d.parquet")
	if err := WriteParquet(path, names, cols); err != nil {
		t.Fatal(err)
	}
	d, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || d.Format != "parquet" || len(d.Columns()) != 4 {
		t.Fatalf("read %d examples, columns %v", d.N, d.Columns())
	}
	for i, n := range names {
		c, _ := d.Column(n)
		sameTensor(t, n, c, cols[i])
	}
	// Conversion to an input's dtype and shape.
	dist, err := d.As("dist", tensor.Float32, []int{1})
	if err != nil || !dist.Shape.Equal(tensor.Shape{3, 1}) || tensor.Data[float32](dist)[2] != 2.25 {
		t.Fatalf("As(dist) = %v, %v", dist, err)
	}
	if _, err := d.As("x", tensor.Float32, []int{4}); err == nil {
		t.Error("a [3]-wide column accepted for a [4] input")
	}
	if _, err := d.As("nope", tensor.Float32, nil); err == nil {
		t.Error("a missing column was found")
	}
}

// TestParquetStructWriter reads a file written by parquet-go's own struct
// writer (LIST columns, INT32, optional scalars), and rejects ragged lists
// and nulls.
func TestParquetStructWriter(t *testing.T) {
	type row struct {
		X     []float32 `parquet:"x,list"`
		Label int32     `parquet:"label"`
		W     *float64  `parquet:"w,optional"`
	}
	one := 1.5
	write := func(rows []row) string {
		path := filepath.Join(t.TempDir(), "s.parquet")
		if err := parquet.WriteFile(path, rows); err != nil {
			t.Fatal(err)
		}
		return path
	}
	d, err := ReadParquet(write([]row{{[]float32{1, 2}, 3, &one}, {[]float32{4, 5}, 6, &one}}))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := d.Column("x")
	sameTensor(t, "x", x, tensor.From([]float32{1, 2, 4, 5}, 2, 2))
	l, _ := d.Column("label")
	sameTensor(t, "label", l, tensor.From([]int64{3, 6}, 2))
	if _, err := ReadParquet(write([]row{{[]float32{1, 2}, 3, &one}, {[]float32{4}, 6, &one}})); err == nil {
		t.Error("ragged lists accepted")
	}
	if _, err := ReadParquet(write([]row{{[]float32{1}, 3, nil}})); err == nil {
		t.Error("a null accepted")
	}
}

func TestNPYDir(t *testing.T) {
	dir := t.TempDir()
	names, cols := sample()
	for i, n := range names {
		if err := tensor.WriteNPYFile(filepath.Join(dir, n+".npy"), cols[i]); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		c, _ := d.Column(n)
		sameTensor(t, n, c, cols[i])
	}
	short := tensor.From([]int64{1, 2}, 2)
	if err := tensor.WriteNPYFile(filepath.Join(dir, "z.npy"), short); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil {
		t.Error("columns with different example counts accepted")
	}
}
