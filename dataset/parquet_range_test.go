package dataset

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type rangeRow struct {
	UserID  int64     `parquet:"user_id"`
	Hour    int32     `parquet:"hour"`
	Feat    []float32 `parquet:"feat,list"`
	History []int64   `parquet:"history"`
	Label   float64   `parquet:"label"`
	OK      bool      `parquet:"ok"`
}

// writeGrouped writes users' rows (1 to 40 each, grouped by user) in row
// groups of rg rows and small pages, so ranges cross pages and groups.
func writeGrouped(t testing.TB, users, rg int) (string, []int64) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var rows []rangeRow
	var starts []int64
	for u := range users {
		starts = append(starts, int64(len(rows)))
		for range 1 + r.IntN(40) {
			n := len(rows)
			rows = append(rows, rangeRow{UserID: int64(1000 + 7*u), Hour: int32(n % 168),
				Feat: []float32{float32(n), r.Float32(), -float32(n)}, History: []int64{int64(n), int64(u), -1, int64(n % 5)},
				Label: float64(n) / 3, OK: n%3 == 0})
		}
	}
	starts = append(starts, int64(len(rows)))
	path := filepath.Join(t.TempDir(), "grouped.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[rangeRow](f, parquet.MaxRowsPerRowGroup(int64(rg)), parquet.PageBufferSize(512))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, starts
}

// sameRows checks that got holds rows [lo, hi) of every column of all.
func sameRows(t *testing.T, all, got *Dataset, lo, hi int64) {
	t.Helper()
	if got.N != int(hi-lo) {
		t.Fatalf("[%d, %d): N = %d", lo, hi, got.N)
	}
	if lo == hi {
		return // an empty range's lists have no width to compare
	}
	for _, name := range got.Columns() {
		want, _ := all.Column(name)
		w := Rows(want, int(lo), int(hi))
		g, _ := got.Column(name)
		if g.DType != w.DType || !reflect.DeepEqual([]int(g.Shape), []int(w.Shape)) {
			t.Fatalf("[%d, %d) %s: %v %v, want %v %v", lo, hi, name, g.DType, g.Shape, w.DType, w.Shape)
		}
		if len(g.Raw)+len(w.Raw) > 0 && !reflect.DeepEqual(g.Raw, w.Raw) {
			t.Fatalf("[%d, %d) %s: values differ from ReadParquet's", lo, hi, name)
		}
		if len(g.Strs)+len(w.Strs) > 0 && !reflect.DeepEqual(g.Strs, w.Strs) {
			t.Fatalf("[%d, %d) %s: strings differ", lo, hi, name)
		}
	}
}

// TestReadParquetRows compares random ranges (and every user's range) with
// the same rows of ReadParquet's tensors.
func TestReadParquetRows(t *testing.T) {
	path, starts := writeGrouped(t, 60, 97)
	all, err := ReadParquet(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := IndexParquet(path, "user_id")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Start, starts) || len(g.Keys) != 60 || g.Keys[59] != 1000+7*59 || g.Rows() != int64(all.N) {
		t.Fatalf("index: keys %v starts %v, want starts %v", g.Keys, g.Start, starts)
	}
	for i := range g.Keys {
		lo, hi := g.Range(i)
		d, err := ReadParquetRows(path, []string{"user_id", "feat", "label"}, lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Columns(); !reflect.DeepEqual(got, []string{"user_id", "feat", "label"}) {
			t.Fatalf("columns %v", got)
		}
		sameRows(t, all, d, lo, hi)
		ids, _ := d.Column("user_id")
		for j := 0; j < d.N; j++ {
			if ids.Float64At(j) != float64(g.Keys[i]) {
				t.Fatalf("user %d: row %d has user %v", g.Keys[i], lo+int64(j), ids.Float64At(j))
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		lo := r.Int64N(int64(all.N) + 1)
		hi := lo + r.Int64N(int64(all.N)-lo+1)
		if lo == hi {
			continue
		}
		d, err := ReadParquetRows(path, nil, lo, hi)
		if err != nil {
			t.Fatalf("[%d, %d): %v", lo, hi, err)
		}
		if !reflect.DeepEqual(d.Columns(), all.Columns()) {
			t.Fatalf("columns %v, want %v", d.Columns(), all.Columns())
		}
		sameRows(t, all, d, lo, hi)
	}
	// The whole file and an empty range.
	d, err := ReadParquetRows(path, nil, 0, int64(all.N))
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, all, d, 0, int64(all.N))
	if d, err := ReadParquetRows(path, []string{"hour"}, 5, 5); err != nil || d.N != 0 {
		t.Fatalf("empty range: %v, %v", d, err)
	}
}

func TestReadParquetRowsErrors(t *testing.T) {
	path, starts := writeGrouped(t, 30, 50) // > 168 rows: hour wraps
	n := starts[len(starts)-1]
	for _, r := range [][2]int64{{-1, 2}, {3, 2}, {0, n + 1}, {n + 1, n + 2}} {
		if _, err := ReadParquetRows(path, nil, r[0], r[1]); err == nil {
			t.Errorf("rows %v of %d read", r, n)
		}
	}
	if _, err := ReadParquetRows(path, []string{"nope"}, 0, 1); err == nil {
		t.Error("a missing column read")
	}
	if _, err := IndexParquet(path, "label"); err == nil {
		t.Error("a float key indexed")
	}
	if _, err := IndexParquet(path, "hour"); err == nil {
		t.Error("hour (not grouped) indexed as a key")
	}
	if _, err := ReadParquetRows(filepath.Join(t.TempDir(), "none.parquet"), nil, 0, 1); err == nil {
		t.Error("a missing file read")
	}
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	if err := os.WriteFile(bad, []byte("PAR1 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := IndexParquet(bad, "user_id"); err == nil {
		t.Error("garbage indexed")
	}
}

// FuzzReadParquetRows: any range is either read exactly as ReadParquet
// reads those rows or refused with an error, never a panic.
func FuzzReadParquetRows(f *testing.F) {
	path, _ := writeGrouped(f, 8, 31)
	all, err := ReadParquet(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(int64(0), int64(1))
	f.Add(int64(30), int64(32))
	f.Add(int64(-5), int64(3))
	f.Add(int64(all.N), int64(all.N))
	f.Add(int64(1)<<62, int64(-1)<<62)
	f.Fuzz(func(t *testing.T, lo, hi int64) {
		d, err := ReadParquetRows(path, nil, lo, hi)
		valid := lo >= 0 && hi >= lo && hi <= int64(all.N)
		if !valid {
			if err == nil {
				t.Fatalf("[%d, %d) of %d read", lo, hi, all.N)
			}
			return
		}
		if err != nil {
			t.Fatalf("[%d, %d): %v", lo, hi, err)
		}
		sameRows(t, all, d, lo, hi)
	})
}

// TestParquetFileConcurrent reads users' ranges of one open file from
// several goroutines (run with -race).
func TestParquetFileConcurrent(t *testing.T) {
	path, starts := writeGrouped(t, 40, 64)
	all, err := ReadParquet(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenParquet(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Rows() != int64(all.N) {
		t.Fatalf("Rows = %d, want %d", p.Rows(), all.N)
	}
	got := make([]*Dataset, len(starts)-1)
	errs := make([]error, len(got))
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i], errs[i] = p.ReadRows([]string{"history", "ok"}, starts[i], starts[i+1]) })
	}
	wg.Wait()
	for i, d := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		sameRows(t, all, d, starts[i], starts[i+1])
	}
}

// BenchmarkReadParquet reads a whole 20,000-row file (B/op is the
// allocation a full read costs); BenchmarkReadParquetRows reads one
// user's ~20 rows of the same file.
func BenchmarkReadParquet(b *testing.B) {
	path, _ := writeGrouped(b, 1000, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadParquet(path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadParquetRows(b *testing.B) {
	path, starts := writeGrouped(b, 1000, 4096)
	p, err := OpenParquet(path)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := i % (len(starts) - 1)
		if _, err := p.ReadRows(nil, starts[u], starts[u+1]); err != nil {
			b.Fatal(err)
		}
		i += 7
	}
}

// TestReserveBound: a column reserves room for the examples the file
// announces, never more than its limit, and an example wider than the
// limit is no error.
func TestReserveBound(t *testing.T) {
	c := &column{kind: parquet.Double, repeated: true, width: -1, expect: 1000, limit: 50}
	for range 80 {
		c.f64 = append(c.f64, 1)
		c.cur++
	}
	if err := c.endRow(); err != nil {
		t.Fatal(err)
	}
	if cap(c.f64) > 2*80 {
		t.Errorf("reserved %d values past a limit of 50", cap(c.f64))
	}
	c = &column{kind: parquet.Int64, width: -1, expect: 1000, limit: 1 << 20}
	c.i64, c.cur = append(c.i64, 7), 1
	if err := c.endRow(); err != nil {
		t.Fatal(err)
	}
	if cap(c.i64) < 1000 {
		t.Errorf("reserved %d values for 1000 examples", cap(c.i64))
	}
}

// FuzzParquetBytes: arbitrary bytes as a Parquet file give an error or a
// data set, never a panic, from ReadParquet, IndexParquet and
// ReadParquetRows alike.
func FuzzParquetBytes(f *testing.F) {
	path, _ := writeGrouped(f, 3, 16)
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.parquet")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		all, err := ReadParquet(p)
		if g, err := IndexParquet(p, "user_id"); err == nil && len(g.Keys) > 0 {
			lo, hi := g.Range(0)
			if d, err := ReadParquetRows(p, nil, lo, hi); err == nil && all != nil {
				sameRows(t, all, d, lo, hi)
			}
		}
		_ = err
	})
}
