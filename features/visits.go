package features

import (
	"fmt"
	"math"
)

// Categories are the place categories, in the order of the one-hot
// candidate features (the same names as the mobility simulator's).
var Categories = []string{"home", "work", "food", "shop", "school", "health", "leisure", "transit", "other"}

// CategoryIndex is name's index in Categories, or the index of "other" for
// an unknown name.
func CategoryIndex(name string) int {
	for i, c := range Categories {
		if c == name {
			return i
		}
	}
	return len(Categories) - 1
}

// Visit is one recorded stay.
type Visit struct {
	Place          int64 // the place's id (any stable identifier)
	Arrive, Depart int64 // Unix seconds
	Category       int   // index in Categories
	Lat, Lon       float64
}

// placeStats is what a User knows about one of its places.
type placeStats struct {
	id       int64
	category int
	lat, lon float64
	count    int32
	arrivals [TimeBuckets]int32  // by arrival bucket
	byHour   [HoursPerWeek]int32 // by arrival hour of week
	lastLeft int64               // depart of the latest visit
	stayed   float64             // total hours stayed
}

// transition keys.
type pair struct{ from, to int32 }
type triple struct{ prev, from, to int32 }

// transStats counts moves between two places, by departure bucket.
type transStats struct {
	count int32
	byDep [TimeBuckets]int32
}

// User accumulates one person's visits. The zero value is not ready: use
// NewUser.
type User struct {
	// Offset is the user's clock offset from UTC in seconds.
	Offset int

	index   map[int64]int32 // place id → row of places
	places  []placeStats
	trans   map[pair]*transStats
	out     map[int32]*transStats // moves leaving a place, by departure bucket
	trans2  map[triple]int32
	out2    map[pair]int32
	recent  []int32 // rows of places, oldest first, at most HistoryLen
	visits  int
	last    Visit
	lastRow int32
	prevRow int32

	city *City // cold-start candidates' public places (SetCity); nil: off

	order  []int32 // scratch: places by rank
	rankOf []int32 // scratch: rank of each place, NotCandidate past K
}

// NewUser returns a User with no visits.
func NewUser() *User {
	return &User{
		index:   map[int64]int32{},
		trans:   map[pair]*transStats{},
		out:     map[int32]*transStats{},
		trans2:  map[triple]int32{},
		out2:    map[pair]int32{},
		lastRow: -1,
		prevRow: -1,
	}
}

// Visits is the number of visits observed.
func (u *User) Visits() int { return u.visits }

// Places is the number of distinct places observed.
func (u *User) Places() int { return len(u.places) }

// Current is the last observed visit; ok is false before the first.
func (u *User) Current() (v Visit, ok bool) { return u.last, u.visits > 0 }

// Observe adds a completed visit. Visits must come in time order.
func (u *User) Observe(v Visit) error {
	if u.visits > 0 && v.Arrive < u.last.Arrive {
		return fmt.Errorf("features: visit at %d is before the previous one at %d", v.Arrive, u.last.Arrive)
	}
	if v.Category < 0 || v.Category >= len(Categories) {
		return fmt.Errorf("features: category %d out of range [0, %d)", v.Category, len(Categories))
	}
	row, ok := u.index[v.Place]
	if !ok {
		row = int32(len(u.places))
		u.index[v.Place] = row
		u.places = append(u.places, placeStats{id: v.Place, category: v.Category, lat: v.Lat, lon: v.Lon})
	}
	p := &u.places[row]
	p.count++
	how := HourOfWeek(v.Arrive, u.Offset)
	p.arrivals[Bucket(how)]++
	p.byHour[int(how)%HoursPerWeek]++
	p.lastLeft = v.Depart
	p.stayed += math.Max(0, float64(v.Depart-v.Arrive)) / 3600
	if u.visits > 0 {
		dep := Bucket(HourOfWeek(u.last.Depart, u.Offset))
		k := pair{u.lastRow, row}
		t := u.trans[k]
		if t == nil {
			t = &transStats{}
			u.trans[k] = t
		}
		t.count++
		t.byDep[dep]++
		o := u.out[u.lastRow]
		if o == nil {
			o = &transStats{}
			u.out[u.lastRow] = o
		}
		o.count++
		o.byDep[dep]++
		if u.prevRow >= 0 {
			u.trans2[triple{u.prevRow, u.lastRow, row}]++
			u.out2[pair{u.prevRow, u.lastRow}]++
		}
	}
	if len(u.recent) == HistoryLen {
		copy(u.recent, u.recent[1:])
		u.recent[HistoryLen-1] = row
	} else {
		u.recent = append(u.recent, row)
	}
	u.prevRow, u.lastRow = u.lastRow, row
	u.last = v
	u.visits++
	return nil
}
