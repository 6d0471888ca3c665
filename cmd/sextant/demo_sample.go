package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// sampleUsers bounds the users whose rows the ETA models' training reads
// whole (sextant train holds its table in memory), so its memory stays
// that of a 10,000-phone run however large the fleet: past it, it reads
// the first sampleUsers users' trips (the tables are grouped by user, in
// the order users were generated, so that is a sample independent of the
// data). The held-out evaluation and the calibration read every user:
// eval, predictability and calibrate stream their table a chunk of rows
// at a time (eval.Source). Each phone still trains and serves on its own
// rows.
const sampleUsers = 10000

// demoTable is a table the demo reads centrally: the whole of a feature
// table, or its first users.
type demoTable struct {
	path        string
	users, of   int // users it holds, of the whole table's
	rows, total int64
}

// sampled says whether the table is a sample of a larger one.
func (t demoTable) sampled() bool { return t.users < t.of }

// note is what a summary says of a sample: "" for a whole table.
func (t demoTable) note() string {
	if !t.sampled() {
		return ""
	}
	return fmt.Sprintf("the first %d of %d users (%d of %d rows)", t.users, t.of, t.rows, t.total)
}

// scope says which rows the table holds: "all 1000 users (20621 rows)",
// or a sample's note; "" for a table not grouped by user.
func (t demoTable) scope() string {
	switch {
	case t.sampled():
		return t.note()
	case t.of == 0:
		return ""
	}
	return fmt.Sprintf("all %d users (%d rows)", t.users, t.rows)
}

// tableCache holds the demo's central tables, made once each.
type tableCache struct {
	mu     sync.Mutex
	tables map[string]demoTable
}

// table returns data/dir/split.parquet, or past sampleUsers users its
// first sampleUsers users written once as data/dir/split-sample.parquet.
func (s *story) table(dir, split string) (demoTable, error) {
	return s.tables.get(s.path("data", dir, split+".parquet"), s.path("data", dir, split+"-sample.parquet"), sampleUsers)
}

// whole returns data/dir/split.parquet itself, described: what the demo
// evaluates and calibrates on (eval and calibrate stream it).
func (s *story) whole(dir, split string) (demoTable, error) {
	src := s.path("data", dir, split+".parquet")
	return s.tables.get(src, src, math.MaxInt)
}

// golden returns data/dir/golden.parquet, the first user's rows of the
// held-out table: the inputs a bundle's golden outputs are computed on
// (packageBundle reads its first row).
func (s *story) golden(dir string) (string, error) {
	t, err := s.tables.get(s.path("data", dir, "test.parquet"), s.path("data", dir, "golden.parquet"), 1)
	return t.path, err
}

func (c *tableCache) get(src, dst string, users int) (demoTable, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tables[dst]; ok {
		return t, nil
	}
	t, err := firstUsers(src, dst, users)
	if err != nil {
		return demoTable{}, fmt.Errorf("%s: %w", filepath.Base(dst), err)
	}
	if c.tables == nil {
		c.tables = map[string]demoTable{}
	}
	c.tables[dst] = t
	return t, nil
}

// firstUsers writes the first n users' rows of the Parquet table src
// (grouped by user_id) to dst and describes it; a table of at most n users
// is src itself.
func firstUsers(src, dst string, n int) (demoTable, error) {
	pf, err := dataset.OpenParquet(src)
	if err != nil {
		return demoTable{}, err
	}
	defer pf.Close()
	g, err := pf.Index("user_id")
	if err != nil {
		// Not grouped by user: the whole table.
		return demoTable{path: src}, nil
	}
	t := demoTable{path: src, users: len(g.Keys), of: len(g.Keys), rows: g.Rows(), total: g.Rows()}
	if len(g.Keys) <= n {
		return t, nil
	}
	_, hi := g.Range(n - 1)
	d, err := pf.ReadRows(nil, 0, hi)
	if err != nil {
		return demoTable{}, err
	}
	names := d.Columns()
	cols := make([]*tensor.Tensor, len(names))
	for i, name := range names {
		cols[i], _ = d.Column(name)
	}
	tmp := dst + ".tmp"
	if err := dataset.WriteParquet(tmp, names, cols); err != nil {
		os.Remove(tmp)
		return demoTable{}, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return demoTable{}, err
	}
	t.path, t.users, t.rows = dst, n, hi
	return t, nil
}
