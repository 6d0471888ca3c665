package tables

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/features"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// Config says how to split and sample.
type Config struct {
	// HoldoutWeeks is the number of final weeks in the test split.
	HoldoutWeeks int
	// Donors is the fraction of users whose examples may enter the
	// training split (a consented donor cohort); 0 or 1 means all. The test
	// split always has every user.
	Donors float64
	// NewUsers is the fraction of users (chosen by a hash of user_id) who
	// are new: their history starts NewUserDays days (default 7) before the
	// test split, and every visit before that is dropped before features
	// are extracted, so their candidates, visit counts and recency come
	// from those days alone — the users a "≤ 7 days of history" benchmark
	// is about (next destination only). Rows carry a new_user column.
	NewUsers    float64
	NewUserDays int
	// ColdStart fills the candidate slots a user's own places leave empty
	// with public places of the city (features.City, from places.parquet),
	// ranked with ColdStartPrior (PriorRelevance, the default, or
	// PriorUniform) — next destination only; see coldstart.go.
	ColdStart      bool
	ColdStartPrior string
}

// newUser reports whether user id is among a fraction f of new users,
// by a hash independent of donor's.
func newUser(id int64, f float64) bool {
	if f <= 0 {
		return false
	}
	return f >= 1 || hashFraction(uint64(id)^0x6e657775736572) < f // "newuser"
}

// historyStart is the first Unix second of a new user's history: newDays
// days before the test split at boundary.
func historyStart(boundary int64, newDays int) int64 {
	if newDays <= 0 {
		newDays = 7
	}
	return boundary - int64(newDays)*24*3600
}

// Stats counts what a run wrote.
type Stats struct {
	Users int
	// Train and Test are the examples written; Uncovered counts, per
	// split, the examples dropped because the next place was not a
	// candidate (next destination only).
	Train, Test                   int
	UncoveredTrain, UncoveredTest int
	// TestNew and UncoveredTestNew are Test and UncoveredTest for the new
	// users alone.
	TestNew, UncoveredTestNew int
	// Boundary is the first Unix second of the test split.
	Boundary int64
}

// Coverage is the share of test examples whose next place was a candidate.
func (s Stats) Coverage() float64 {
	return float64(s.Test) / math.Max(1, float64(s.Test+s.UncoveredTest))
}

// CoverageNew is Coverage for the new users' test examples.
func (s Stats) CoverageNew() float64 {
	return float64(s.TestNew) / math.Max(1, float64(s.TestNew+s.UncoveredTestNew))
}

const week = 7 * 24 * 3600

// boundary is the start of the last holdout whole weeks. The data's weeks
// start on the Monday 00:00 (UTC) nearest first, the earliest event, and
// their number is the span to last, the latest, in whole weeks rounded to
// the nearest (a first stay may begin just before the simulation's first
// Monday, a last arrival just after its end).
func boundary(first, last int64, holdout int) (int64, error) {
	if holdout < 1 {
		return 0, fmt.Errorf("tables: --holdout-weeks %d must be at least 1", holdout)
	}
	how := features.HourOfWeek(first, 0)
	t0 := first - int64(how*3600)
	if how > features.HoursPerWeek/2 {
		t0 += week
	}
	weeks := int(math.Round(float64(last-t0) / week))
	if weeks <= holdout {
		return 0, fmt.Errorf("tables: the data spans %d weeks; cannot hold out %d", weeks, holdout)
	}
	return t0 + int64(weeks-holdout)*week, nil
}

// donor reports whether user id is in the donor cohort of fraction f: a
// fixed hash of the id, so the cohort does not depend on the data order.
func donor(id int64, f float64) bool {
	if f <= 0 || f >= 1 {
		return true
	}
	return hashFraction(uint64(id)) < f
}

// hashFraction maps x to [0, 1) by a 64-bit mix (splitmix64-style
// constants).
func hashFraction(x uint64) float64 {
	h := x*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return float64(h>>11) / float64(1<<53)
}

// readAll streams every row of a Parquet table to fn.
func readAll[T any](path string, fn func(*T) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	defer f.Close()
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	buf := make([]T, 4096)
	for {
		n, err := r.Read(buf)
		for i := 0; i < n; i++ {
			if e := fn(&buf[i]); e != nil {
				return e
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tables: %s: %w", path, err)
		}
	}
}

// explorers reads users.parquet: 1 for explorers, 0 for returners.
func explorers(dir string) (map[int64]int64, error) {
	out := map[int64]int64{}
	err := readAll(filepath.Join(dir, mdata.UsersFile), func(u *mdata.UserRow) error {
		if u.Kind == "explorer" {
			out[u.UserID] = 1
		} else {
			out[u.UserID] = 0
		}
		return nil
	})
	return out, err
}

// The next-destination and ETA tables are written as they are computed
// (table.stream), a batch of flushRows rows at a time, in row groups of
// rowGroupRows rows and small Snappy pages: memory stays bounded whatever
// the population, and a reader of one user's rows
// (dataset.ParquetFile.ReadRows) decodes a few small pages per column.
const (
	flushRows    = 4096
	rowGroupRows = 1 << 15
	pageBytes    = 64 << 10
)

// table accumulates one split's columns: in memory until write, or, once
// stream is called, written to its file every flushRows rows.
type table struct {
	names []string
	f32   map[string][]float32
	i64   map[string][]int64
	width map[string]int
	n     int    // rows buffered
	path  string // set by stream or write
	w     *dataset.ParquetWriter
}

func newTable() *table {
	return &table{f32: map[string][]float32{}, i64: map[string][]int64{}, width: map[string]int{}}
}

// stream makes the table write its rows to path as they come (endRow).
func (t *table) stream(path string) { t.path = path }

func (t *table) col(name string, w int) {
	if _, ok := t.width[name]; !ok {
		t.names = append(t.names, name)
		t.width[name] = w
	}
}

func (t *table) floats(name string, v ...float32) {
	t.col(name, len(v))
	t.f32[name] = append(t.f32[name], v...)
}

func (t *table) ints(name string, v ...int64) {
	t.col(name, len(v))
	t.i64[name] = append(t.i64[name], v...)
}

// endRow counts a finished row; a streamed table writes its buffered rows
// every flushRows.
func (t *table) endRow() error {
	t.n++
	if t.path != "" && t.n >= flushRows {
		return t.flush()
	}
	return nil
}

// flush writes the buffered rows: width-1 columns as scalars, wider ones
// as lists.
func (t *table) flush() error {
	if t.n == 0 {
		return nil
	}
	if t.w == nil {
		w, err := dataset.CreateParquet(t.path, t.names, dataset.ParquetOptions{RowGroupRows: rowGroupRows, PageBytes: pageBytes, Snappy: true})
		if err != nil {
			return fmt.Errorf("tables: %w", err)
		}
		t.w = w
	}
	cols := make([]*tensor.Tensor, len(t.names))
	for i, n := range t.names {
		w := t.width[n]
		shape := []int{t.n}
		if w != 1 {
			shape = append(shape, w)
		}
		if v, ok := t.f32[n]; ok {
			cols[i] = tensor.From(v, shape...)
		} else {
			cols[i] = tensor.From(t.i64[n], shape...)
		}
	}
	if err := t.w.Write(cols); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	for n, v := range t.f32 {
		t.f32[n] = v[:0]
	}
	for n, v := range t.i64 {
		t.i64[n] = v[:0]
	}
	t.n = 0
	return nil
}

// write stores the table as a Parquet file at path (a streamed table's
// own path): the buffered rows, then the file is finished. A table with
// no examples is an error.
func (t *table) write(path string) error {
	if t.path != "" && t.path != path {
		return fmt.Errorf("tables: a table streamed to %s written to %s", t.path, path)
	}
	t.path = path
	if err := t.flush(); err != nil {
		return err
	}
	if t.w == nil {
		return fmt.Errorf("tables: %s would have no examples", path)
	}
	if err := t.w.Close(); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	return nil
}
