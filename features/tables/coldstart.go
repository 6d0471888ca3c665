package tables

import (
	"fmt"
	"path/filepath"

	"github.com/sextant-ml/sextant/features"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
)

// Cold-start candidate priors (Config.ColdStartPrior).
const (
	// PriorRelevance uses places.parquet's relevance, a public attribute of
	// the city's map data (the OSM import draws it from the place's tags
	// and area). In the simulator it is also exactly the weight of
	// d-EPR's exploration, so it is the most informative prior a map could
	// carry: an optimistic one.
	PriorRelevance = "relevance"
	// PriorUniform gives every place the same prior: public candidates are
	// then told apart by category and distance alone.
	PriorUniform = "uniform"
)

// UncoveredFile is the per-user coverage table next to train.parquet and
// test.parquet: user_id, new_user, test_examples (written to
// test.parquet) and test_uncovered (held-out examples dropped because the
// next place was not a candidate), one row per user, so that Acc@1 can be
// reported over every held-out example (a dropped one counts as a miss).
const UncoveredFile = "coverage.parquet"

// With cold-start candidates the tables carry a slicing column,
// public_label: 1 when the next place is a public candidate (a first visit
// as far as the device knows), else 0.

// loadCity reads the public place table of the data set in dir for
// cold-start candidates, or returns nil when cfg does not ask for them.
func loadCity(dir string, cfg Config) (*features.City, error) {
	if !cfg.ColdStart {
		return nil, nil
	}
	uniform := false
	switch cfg.ColdStartPrior {
	case "", PriorRelevance:
	case PriorUniform:
		uniform = true
	default:
		return nil, fmt.Errorf("tables: --cold-start-prior %q: want %s or %s", cfg.ColdStartPrior, PriorRelevance, PriorUniform)
	}
	var places []features.PublicPlace
	err := readAll(filepath.Join(dir, mdata.PlacesFile), func(p *mdata.PlaceRow) error {
		prior := p.Relevance
		if uniform {
			prior = 1
		}
		places = append(places, features.PublicPlace{ID: int64(p.PlaceID), Category: features.CategoryIndex(p.Category),
			Lat: p.Lat, Lon: p.Lon, Prior: prior})
		return nil
	})
	if err != nil {
		return nil, err
	}
	c, err := features.NewCity(places)
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	return c, nil
}

// coverage counts each user's held-out examples, written and dropped.
type coverage struct {
	ids, isNew, written, dropped []int64
}

// user starts a user's row.
func (c *coverage) user(id int64, isNew bool) {
	c.ids = append(c.ids, id)
	c.isNew = append(c.isNew, boolInt(isNew))
	c.written = append(c.written, 0)
	c.dropped = append(c.dropped, 0)
}

// held counts a held-out example of the current user.
func (c *coverage) held(covered bool) {
	if covered {
		c.written[len(c.written)-1]++
	} else {
		c.dropped[len(c.dropped)-1]++
	}
}

// append adds a later chunk's users.
func (c *coverage) append(o *coverage) {
	c.ids = append(c.ids, o.ids...)
	c.isNew = append(c.isNew, o.isNew...)
	c.written = append(c.written, o.written...)
	c.dropped = append(c.dropped, o.dropped...)
}

// newUsers sums the new users' held-out examples, written and dropped.
func (c *coverage) newUsers() (written, dropped int) {
	for i, n := range c.isNew {
		if n == 1 {
			written += int(c.written[i])
			dropped += int(c.dropped[i])
		}
	}
	return written, dropped
}

// coverageRow is a row of UncoveredFile, columns in name order.
type coverageRow struct {
	NewUser       int64 `parquet:"new_user"`
	TestExamples  int64 `parquet:"test_examples"`
	TestUncovered int64 `parquet:"test_uncovered"`
	UserID        int64 `parquet:"user_id"`
}

// write stores the table as out/UncoveredFile.
func (c *coverage) write(out string) error {
	o, err := createOutput[coverageRow](filepath.Join(out, UncoveredFile))
	if err != nil {
		return err
	}
	rows := make([]coverageRow, 0, flushRows)
	for i, id := range c.ids {
		rows = append(rows, coverageRow{UserID: id, NewUser: c.isNew[i], TestExamples: c.written[i], TestUncovered: c.dropped[i]})
		if len(rows) == flushRows || i == len(c.ids)-1 {
			if _, err := o.w.Write(rows); err != nil {
				o.abort()
				return fmt.Errorf("tables: %s: %w", o.path, err)
			}
			o.rows += int64(len(rows))
			rows = rows[:0]
		}
	}
	return o.close()
}
