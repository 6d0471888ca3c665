package tables

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/features"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
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
	//
	// With NewUserDaysMin in [1, NewUserDays), each new user's history is
	// instead a whole number of days drawn uniformly from NewUserDaysMin
	// to NewUserDays by another hash of user_id: a cohort of users who
	// joined on different days of the last week, as "≤ 7 days of history"
	// says. Rows carry the user's days in a new_user_days column (0 for
	// users who are not new).
	NewUsers       float64
	NewUserDays    int
	NewUserDaysMin int
	// ColdStart fills the candidate slots a user's own places leave empty
	// with public places of the city (features.City, from places.parquet),
	// ranked with ColdStartPrior (PriorRelevance, the default, or
	// PriorUniform) — next destination only; see coldstart.go.
	ColdStart      bool
	ColdStartPrior string
	// Workers is the number of goroutines computing chunks of users
	// (parallel.go); 0 means GOMAXPROCS. The output does not depend on it.
	Workers int
	// ChunkRows is the number of input rows (visits or trips) after which
	// a chunk ends with the current user; 0 means 32768. A chunk's
	// examples are a row group of each split, so it sets the row groups
	// (not the rows), and the memory in flight.
	ChunkRows int
}

// newUser reports whether user id is among a fraction f of new users,
// by a hash independent of donor's.
func newUser(id int64, f float64) bool {
	if f <= 0 {
		return false
	}
	return f >= 1 || hashFraction(uint64(id)^0x6e657775736572) < f // "newuser"
}

// historyDays is the days of history new user id has at the test split:
// NewUserDays (default 7), or a day count drawn uniformly from
// [NewUserDaysMin, NewUserDays] by a hash of id independent of newUser's.
func (cfg *Config) historyDays(id int64) int {
	hi := cfg.NewUserDays
	if hi <= 0 {
		hi = 7
	}
	lo := cfg.NewUserDaysMin
	if lo <= 0 || lo >= hi {
		return hi
	}
	n := int(hashFraction(uint64(id)^0x6e657764617973) * float64(hi-lo+1)) // "newdays"
	return lo + min(n, hi-lo)
}

// checkNewUsers reports a bad new-user configuration.
func (cfg *Config) checkNewUsers() error {
	if cfg.NewUsers < 0 || cfg.NewUsers > 1 || cfg.NewUserDays < 0 || cfg.NewUserDaysMin < 0 ||
		(cfg.NewUserDaysMin > 0 && cfg.NewUserDays > 0 && cfg.NewUserDaysMin > cfg.NewUserDays) {
		return fmt.Errorf("tables: --new-users %v must be in [0, 1] and --new-user-days %d–%d a range of days ≥ 1",
			cfg.NewUsers, cfg.NewUserDaysMin, cfg.NewUserDays)
	}
	return nil
}

// historyStart is the first Unix second of a new user's history: days
// days before the test split at boundary.
func historyStart(boundary int64, days int) int64 {
	return boundary - int64(days)*24*3600
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

// add counts a chunk's examples (c's Boundary and new-user counts aside).
func (s *Stats) add(c Stats) {
	s.Users += c.Users
	s.Train += c.Train
	s.Test += c.Test
	s.UncoveredTrain += c.UncoveredTrain
	s.UncoveredTest += c.UncoveredTest
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

// timeRange is the least and greatest value of the INT64 column name (of
// each row, at) in the Parquet table at path. It reads the file's page
// index, the pages' bounds, and decodes the rows only when the file has
// none.
func timeRange[T any](path, name string, at func(*T) int64) (lo, hi int64, err error) {
	if lo, hi, ok := pageBounds(path, name); ok {
		return lo, hi, nil
	}
	lo, hi = 1<<62, -1<<62 // no rows: boundary refuses the span
	err = readAll(path, func(r *T) error {
		lo, hi = min(lo, at(r)), max(hi, at(r))
		return nil
	})
	return lo, hi, err
}

// pageBounds is timeRange from the page index; ok is false when a row
// group has none (or the file cannot be read: readAll reports why).
func pageBounds(path, name string) (lo, hi int64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, false
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return 0, 0, false
	}
	leaf, found := pf.Schema().Lookup(name)
	if !found || leaf.Node.Type().Kind() != parquet.Int64 || leaf.MaxDefinitionLevel > 0 {
		return 0, 0, false
	}
	lo, hi = int64(math.MaxInt64), int64(math.MinInt64)
	for _, rg := range pf.RowGroups() {
		if rg.NumRows() == 0 {
			continue
		}
		ci, err := rg.ColumnChunks()[leaf.ColumnIndex].ColumnIndex()
		if err != nil || ci == nil || ci.NumPages() == 0 {
			return 0, 0, false
		}
		for p := range ci.NumPages() {
			lo, hi = min(lo, ci.MinValue(p).Int64()), max(hi, ci.MaxValue(p).Int64())
		}
	}
	return lo, hi, lo <= hi
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
