package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/tensor"
)

// TestParquetKinds reads strings, bools, INT64 scalars, a LIST column and a
// bare repeated field from a file of several row groups.
func TestParquetKinds(t *testing.T) {
	type row struct {
		Hour    int64     `parquet:"hour"`
		Kind    string    `parquet:"kind"`
		Feat    []float32 `parquet:"feat,list"`
		History []int32   `parquet:"history"` // a bare repeated field
		Label   float64   `parquet:"label"`
		OK      bool      `parquet:"ok"`
	}
	rows := []row{
		{0, "explorer", []float32{1, 2}, []int32{-1, 0, 1}, 0.5, true},
		{7, "returner", []float32{3, 4}, []int32{2, 0, 1}, 1.5, false},
		{13, "explorer", []float32{5, 6}, []int32{-1, -1, 3}, 2.5, true},
		{20, "returner", []float32{7, 8}, []int32{1, 1, 1}, 3.5, false},
		{23, "explorer", []float32{9, 10}, []int32{-1, -1, -1}, 4.5, true},
	}
	path := filepath.Join(t.TempDir(), "d.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[row](f, parquet.MaxRowsPerRowGroup(3))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 5 || d.Format != "parquet" {
		t.Fatalf("N=%d format %s", d.N, d.Format)
	}
	hour, _ := d.Column("hour")
	sameTensor(t, "hour", hour, tensor.From([]int64{0, 7, 13, 20, 23}, 5))
	feat, _ := d.Column("feat")
	sameTensor(t, "feat", feat, tensor.From([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5, 2))
	hist, _ := d.Column("history")
	sameTensor(t, "history", hist, tensor.From([]int64{-1, 0, 1, 2, 0, 1, -1, -1, 3, 1, 1, 1, -1, -1, -1}, 5, 3))
	label, _ := d.Column("label")
	sameTensor(t, "label", label, tensor.From([]float64{0.5, 1.5, 2.5, 3.5, 4.5}, 5))
	kind, _ := d.Column("kind")
	if kind.DType != tensor.String || !reflect.DeepEqual(kind.Strs, []string{"explorer", "returner", "explorer", "returner", "explorer"}) {
		t.Errorf("kind %v %v", kind, kind.Strs)
	}
	ok, _ := d.Column("ok")
	if ok.DType != tensor.Bool || !reflect.DeepEqual(ok.Raw, []byte{1, 0, 1, 0, 1}) {
		t.Errorf("ok %v %v", ok, ok.Raw)
	}
}

func TestConvertAndRows(t *testing.T) {
	f := tensor.From([]float64{0, 2, -1.5}, 3)
	b, err := Convert(f, tensor.Bool)
	if err != nil || !reflect.DeepEqual(b.Raw, []byte{0, 1, 1}) {
		t.Errorf("Convert to bool = %v, %v", b, err)
	}
	if _, err := Convert(f, tensor.Int64); err == nil {
		t.Error("-1.5 converted to an integer")
	}
	i, err := Convert(tensor.From([]int64{1 << 60, -3}, 2), tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	sameTensor(t, "int64 to float64", i, tensor.From([]float64{1 << 60, -3}, 2))
	if _, err := Convert(&tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{1}, Strs: []string{"a"}}, tensor.Float32); err == nil {
		t.Error("a string converted to a number")
	}

	x := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 3, 2)
	if Width(x) != 2 {
		t.Errorf("Width = %d", Width(x))
	}
	sameTensor(t, "Rows(1, 3)", Rows(x, 1, 3), tensor.From([]float32{3, 4, 5, 6}, 2, 2))
	sameTensor(t, "PadRows(1, 3, 4)", PadRows(x, 1, 3, 4), tensor.From([]float32{3, 4, 5, 6, 5, 6, 5, 6}, 4, 2))
	s := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{3}, Strs: []string{"a", "b", "c"}}
	if got := PadRows(s, 2, 3, 2).Strs; !reflect.DeepEqual(got, []string{"c", "c"}) {
		t.Errorf("PadRows of strings = %v", got)
	}
	if got := Rows(s, 0, 2).Strs; !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Rows of strings = %v", got)
	}
}
