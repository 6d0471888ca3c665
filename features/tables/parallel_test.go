package tables

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/dataset"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
)

// sameFiles fails unless dirs a and b hold byte-identical copies of names.
func sameFiles(t *testing.T, a, b string, names ...string) {
	t.Helper()
	for _, n := range names {
		x, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s: %d bytes in %s, %d different bytes in %s", n, len(x), a, len(y), b)
		}
	}
}

// sameRows fails unless the Parquet files a and b hold the same columns
// with the same values (their row groups may differ).
func sameRows(t *testing.T, a, b string) {
	t.Helper()
	da, err := dataset.Read(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := dataset.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if da.N != db.N || len(da.Columns()) != len(db.Columns()) {
		t.Fatalf("%s: %d rows × %d columns, %s: %d × %d", a, da.N, len(da.Columns()), b, db.N, len(db.Columns()))
	}
	for _, n := range da.Columns() {
		x, _ := da.Column(n)
		y, ok := db.Column(n)
		if !ok || x.DType != y.DType || !bytes.Equal(x.Raw, y.Raw) {
			t.Errorf("column %q differs between %s and %s", n, a, b)
		}
	}
}

func rowGroups(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return len(pf.RowGroups())
}

// The tables are the same bytes whatever the number of workers: chunks of
// users are cut by the data alone and appended in file order. Small chunks
// make many row groups, with the same rows as one chunk.
func TestWorkersSameBytes(t *testing.T) {
	in := generate(t, 40, 3)
	cfg := Config{HoldoutWeeks: 1, Donors: 0.6, NewUsers: 0.3, NewUserDays: 7, ColdStart: true, ChunkRows: 300}
	nd := map[int]string{}
	for _, w := range []int{1, 3} {
		c := cfg
		c.Workers = w
		nd[w] = t.TempDir()
		st, err := NextDestination(in, nd[w], c)
		if err != nil {
			t.Fatal(err)
		}
		if st.Users != 40 || st.Train == 0 || st.Test == 0 {
			t.Fatalf("%d workers: stats %+v", w, st)
		}
	}
	sameFiles(t, nd[1], nd[3], "train.parquet", "test.parquet", UncoveredFile)
	if n := rowGroups(t, filepath.Join(nd[3], "train.parquet")); n < 4 {
		t.Errorf("train.parquet has %d row groups: the chunks did not split the users", n)
	}
	whole := t.TempDir()
	c := cfg
	c.ChunkRows = 1 << 30
	if _, err := NextDestination(in, whole, c); err != nil {
		t.Fatal(err)
	}
	if n := rowGroups(t, filepath.Join(whole, "train.parquet")); n != 1 {
		t.Errorf("one chunk wrote %d row groups", n)
	}
	for _, f := range []string{"train.parquet", "test.parquet", UncoveredFile} {
		sameRows(t, filepath.Join(nd[3], f), filepath.Join(whole, f))
	}

	eta := map[int]string{}
	for _, w := range []int{1, 3} {
		eta[w] = t.TempDir()
		if _, err := ETA(in, eta[w], Config{HoldoutWeeks: 1, Workers: w, ChunkRows: 300}); err != nil {
			t.Fatal(err)
		}
	}
	sameFiles(t, eta[1], eta[3], "train.parquet", "test.parquet")
}

// raise makes peak at least v.
func raise(peak *atomic.Int64, v int64) {
	for {
		p := peak.Load()
		if v <= p || peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// The holdout boundary's time range comes from the inputs' page index,
// the same as a scan of every row.
func TestTimeRangeFromPageIndex(t *testing.T) {
	in := generate(t, 12, 2)
	for _, c := range []struct {
		file, col string
		scan      func() (int64, int64, error)
	}{
		{mdata.VisitsFile, "arrive", func() (int64, int64, error) {
			lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
			err := readAll(filepath.Join(in, mdata.VisitsFile), func(v *mdata.VisitRow) error {
				lo, hi = min(lo, v.Arrive), max(hi, v.Arrive)
				return nil
			})
			return lo, hi, err
		}},
		{mdata.TripsFile, "depart", func() (int64, int64, error) {
			lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
			err := readAll(filepath.Join(in, mdata.TripsFile), func(r *mdata.TripRow) error {
				lo, hi = min(lo, r.Depart), max(hi, r.Depart)
				return nil
			})
			return lo, hi, err
		}},
	} {
		lo, hi, ok := pageBounds(filepath.Join(in, c.file), c.col)
		wlo, whi, err := c.scan()
		if err != nil {
			t.Fatal(err)
		}
		if !ok || lo != wlo || hi != whi {
			t.Errorf("%s %s: page index [%d, %d] (ok %v), rows [%d, %d]", c.file, c.col, lo, hi, ok, wlo, whi)
		}
	}
	if _, _, ok := pageBounds(filepath.Join(in, mdata.VisitsFile), "category"); ok {
		t.Error("bounds of a string column")
	}
}

// userRow is a row of chunks' test input.
type userRow struct {
	User  int64 `parquet:"user"`
	Value int64 `parquet:"value"`
}

// writeUsers writes users with 1 to 7 rows each; values count up.
func writeUsers(t *testing.T, users int) (string, int) {
	t.Helper()
	var rows []userRow
	for u := range users {
		for range 1 + u*5%7 {
			rows = append(rows, userRow{int64(u), int64(len(rows))})
		}
	}
	path := filepath.Join(t.TempDir(), "users.parquet")
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	return path, len(rows)
}

// chunks hands every row to done once, in file order, in chunks of whole
// users of at least size rows, with at most 2×workers chunks in flight
// however slow the workers; a worker's error stops the run and is returned.
func TestChunks(t *testing.T) {
	path, n := writeUsers(t, 500)
	for _, workers := range []int{1, 3} {
		var inFlight, peak atomic.Int64
		var next int64
		lastUser := int64(-1)
		newWorker := func() func([]userRow) ([]userRow, error) {
			return func(c []userRow) ([]userRow, error) {
				time.Sleep(time.Duration(c[0].User%3) * time.Millisecond) // out of order
				return append([]userRow(nil), c...), nil
			}
		}
		err := chunks(context.Background(), path, workers, 20, func(r *userRow) int64 { return r.User },
			func(r *userRow) userRow { raise(&peak, inFlight.Add(1)); return *r },
			newWorker, func(c []userRow) error {
				inFlight.Add(-int64(len(c)))
				if c[0].User == lastUser {
					t.Fatalf("user %d split between chunks", lastUser)
				}
				lastUser = c[len(c)-1].User
				for i, r := range c {
					if r.Value != next {
						t.Fatalf("%d workers: row %d of a chunk is row %d, want %d", workers, i, r.Value, next)
					}
					next++
				}
				if last := c[len(c)-1]; last.Value != int64(n-1) && len(c) < 20 {
					t.Fatalf("a chunk of %d rows before the end", len(c))
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if next != int64(n) {
			t.Fatalf("%d workers: %d rows done, want %d", workers, next, n)
		}
		// A chunk holds under 20 + 7 rows; one more is being read.
		if bound := int64(2*workers+1) * 27; peak.Load() > bound {
			t.Errorf("%d workers: %d rows read and not done (bound %d)", workers, peak.Load(), bound)
		}
	}

	boom := errors.New("boom")
	var calls atomic.Int64
	err := chunks(context.Background(), path, 3, 20, func(r *userRow) int64 { return r.User }, func(r *userRow) userRow { return *r },
		func() func([]userRow) (int, error) {
			return func(c []userRow) (int, error) {
				if calls.Add(1) == 5 {
					return 0, boom
				}
				return len(c), nil
			}
		}, func(int) error { return nil })
	if !errors.Is(err, boom) {
		t.Fatalf("a failing chunk returned %v", err)
	}
	stop := errors.New("stop")
	err = chunks(context.Background(), path, 3, 20, func(r *userRow) int64 { return r.User }, func(r *userRow) userRow { return *r },
		func() func([]userRow) (int, error) { return func(c []userRow) (int, error) { return len(c), nil } },
		func(int) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("a failing done returned %v", err)
	}
}
