package eval

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/tensor"
)

type parquetRow struct {
	Hour    int64     `parquet:"hour"`
	Kind    string    `parquet:"kind"`
	Feat    []float32 `parquet:"feat,list"`
	History []int32   `parquet:"history"` // a bare repeated field
	Label   float64   `parquet:"label"`
	OK      bool      `parquet:"ok"`
}

func writeParquet(t *testing.T, rows []parquetRow) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[parquetRow](f, parquet.MaxRowsPerRowGroup(3))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadParquetColumns(t *testing.T) {
	rows := []parquetRow{
		{0, "explorer", []float32{1, 2}, []int32{-1, 0, 1}, 0.5, true},
		{7, "returner", []float32{3, 4}, []int32{2, 0, 1}, 1.5, false},
		{13, "explorer", []float32{5, 6}, []int32{-1, -1, 3}, 2.5, true},
		{20, "returner", []float32{7, 8}, []int32{1, 1, 1}, 3.5, false},
		{23, "explorer", []float32{9, 10}, []int32{-1, -1, -1}, 4.5, true},
	}
	d, err := ReadData(writeParquet(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 5 || d.Format != "parquet" {
		t.Fatalf("N=%d format %s", d.N, d.Format)
	}
	feat, _ := d.Column("feat")
	if feat.DType != tensor.Float32 || !feat.Shape.Equal(tensor.Shape{5, 2}) || tensor.Data[float32](feat)[5] != 6 {
		t.Errorf("feat %v %v", feat, tensor.Data[float32](feat))
	}
	hist, _ := d.Column("history")
	if hist.DType != tensor.Int64 || !hist.Shape.Equal(tensor.Shape{5, 3}) || tensor.Data[int64](hist)[3] != 2 {
		t.Errorf("history %v %v", hist, tensor.Data[int64](hist))
	}
	kind, _ := d.Column("kind")
	if !reflect.DeepEqual(kind.Strs, []string{"explorer", "returner", "explorer", "returner", "explorer"}) {
		t.Errorf("kind %v", kind.Strs)
	}
	ok, _ := d.Column("ok")
	if ok.DType != tensor.Bool || ok.Raw[0] != 1 || ok.Raw[1] != 0 {
		t.Errorf("ok %v", ok.Raw)
	}
	labels, err := d.Labels("label")
	if err != nil || !reflect.DeepEqual(labels, []float64{0.5, 1.5, 2.5, 3.5, 4.5}) {
		t.Errorf("labels %v %v", labels, err)
	}

	// Slices: categorical, binned by edges, and by history length.
	check := func(spec string, want map[string][]int) {
		t.Helper()
		s, err := ParseSliceSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Slices(s)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]int{}
		for _, sl := range got {
			m[sl.Value] = sl.Index
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s: %v, want %v", spec, m, want)
		}
	}
	check("kind", map[string][]int{"explorer": {0, 2, 4}, "returner": {1, 3}})
	check("hour:6,12,18", map[string][]int{"(-inf,6)": {0}, "[6,12)": {1}, "[12,18)": {2}, "[18,inf)": {3, 4}})
	check("len(history)", map[string][]int{"0": {4}, "1": {2}, "2": {0}, "3": {1, 3}})
	if _, err := d.Slices(SliceSpec{Column: "feat"}); err == nil {
		t.Error("sliced by a vector column")
	}
	if _, err := ParseSliceSpec("hour:12,6"); err == nil {
		t.Error("decreasing edges accepted")
	}
}

func TestReadNPYDirAndRaggedParquet(t *testing.T) {
	dir := t.TempDir()
	if err := tensor.WriteNPYFile(filepath.Join(dir, "x.npy"), tensor.From([]float32{1, 2, 3, 4, 5, 6}, 3, 2)); err != nil {
		t.Fatal(err)
	}
	if err := tensor.WriteNPYFile(filepath.Join(dir, "label.npy"), tensor.From([]int64{0, 1, 1}, 3)); err != nil {
		t.Fatal(err)
	}
	d, err := ReadData(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || !reflect.DeepEqual(d.Columns(), []string{"label", "x"}) {
		t.Errorf("N %d columns %v", d.N, d.Columns())
	}
	if err := tensor.WriteNPYFile(filepath.Join(dir, "short.npy"), tensor.From([]int64{0, 1}, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadData(dir); err == nil {
		t.Error("columns of different lengths accepted")
	}

	ragged := []parquetRow{{Feat: []float32{1, 2}, History: []int32{1}}, {Feat: []float32{1}, History: []int32{1}}}
	if _, err := ReadData(writeParquet(t, ragged)); err == nil {
		t.Error("lists of different lengths accepted")
	}
}

func TestBuiltinBaselines(t *testing.T) {
	// History (oldest first, -1 pads): 0 1 0 1 0 — the current place is 0,
	// its transitions go to 1 twice; 0 is the most frequent.
	hist := tensor.From([]int64{-1, 0, 1, 0, 1, 0, -1, -1, -1, -1, -1, -1}, 2, 6)
	d, err := NewDataset(map[string]*tensor.Tensor{"history": hist, "label": tensor.From([]int64{1, 2}, 2)})
	if err != nil {
		t.Fatal(err)
	}
	h := DefaultHistory()
	h.Candidates = 3
	ranks := func(name string) []int {
		p, err := NewBaseline(name, h)
		if err != nil {
			t.Fatal(err)
		}
		s, err := PredictAll(context.Background(), p, d, 1)
		if err != nil {
			t.Fatal(err)
		}
		o, err := NewOutputs(Ranking, p.(ScoreKinder).ScoreKind(), s, []float64{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.prepare(); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			sum := 0.0
			for _, x := range s.Row(i) {
				sum += x
			}
			near(t, name+" probabilities sum", sum, 1, 1e-12)
		}
		return []int{o.Rank(0), o.Rank(1)}
	}
	// most-frequent: 0 (3 visits) then 1 (2): label 1 ranks 2; an empty
	// history falls back to candidate order: label 2 ranks 3.
	if got := ranks("most-frequent"); !reflect.DeepEqual(got, []int{2, 3}) {
		t.Errorf("most-frequent ranks %v", got)
	}
	// markov: after 0 comes 1: label 1 ranks 1.
	if got := ranks("markov"); !reflect.DeepEqual(got, []int{1, 3}) {
		t.Errorf("markov ranks %v", got)
	}
	if _, err := NewBaseline("oracle", h); err == nil {
		t.Error("unknown baseline accepted")
	}
}
