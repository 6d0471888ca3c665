package features

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Cold-start candidates: the next-destination feature spec's option that
// fills the candidate slots a user's own places leave empty (fewer than K
// places observed) with public places of the city — the device's map data,
// no one's visits. Without it a short history's next destination is often a
// place the user has not visited yet, which no model can rank because it is
// not a candidate.
//
// A public candidate is a city place the user has not visited, chosen by a
// gravity score from the current place,
//
//	prior_j / max(r_ij, ColdStartMinDistance)²,
//
// highest first (ties: lower id). Its features follow CandidateFeatureNames
// with the user's own statistics at zero (it has no visits, arrivals or
// transitions) and two slots that cannot describe a place never stayed at
// carrying public information instead:
//
//	log_hours_since  −1: never visited (own places are ≥ 0), the public-candidate marker
//	log_mean_stay    log(1 + prior_j), the map's public popularity prior
//
// The distances (log_km_current, log_km_top) and the category are the
// place's own. The shapes are unchanged, so the same model architecture
// serves both specs; a model trained on one spec must be served with the
// same spec (the bundle's preprocessing constant ColdStartPreprocessing).

// ColdStartPreprocessing names the bundle manifest's preprocessing constant
// of the next-destination feature spec: [1] when the model's inputs were
// extracted with cold-start candidates, absent or [0] otherwise.
const ColdStartPreprocessing = "cold_start_candidates"

// ColdStartMinDistance floors the distance in the gravity score, in metres
// (a place "at" the current one is not infinitely attractive).
const ColdStartMinDistance = 200.0

// neverVisited is a public candidate's log_hours_since.
const neverVisited = -1

// PublicPlace is one place of the city's public map data.
type PublicPlace struct {
	ID       int64 // the id visits use for the place
	Category int   // index in Categories
	Lat, Lon float64
	// Prior is a public popularity prior (> 0; e.g. the map's relevance or
	// a differentially private visit count); 1 for every place when the
	// map has none.
	Prior float32
}

// City is the public place table cold-start candidates are drawn from. It
// caches each origin's ranking and is safe for concurrent use.
type City struct {
	places []PublicPlace
	mu     sync.Mutex
	near   map[int64][]int32 // origin place id → top K public places by gravity
}

// NewCity indexes places (ids must be distinct; priors positive).
func NewCity(places []PublicPlace) (*City, error) {
	seen := make(map[int64]bool, len(places))
	for _, p := range places {
		if seen[p.ID] {
			return nil, fmt.Errorf("features: city place %d listed twice", p.ID)
		}
		seen[p.ID] = true
		if !(p.Prior > 0) || math.IsInf(float64(p.Prior), 0) {
			return nil, fmt.Errorf("features: city place %d: prior %g, want > 0", p.ID, p.Prior)
		}
		if p.Category < 0 || p.Category >= len(Categories) {
			return nil, fmt.Errorf("features: city place %d: category %d out of range", p.ID, p.Category)
		}
	}
	return &City{places: slices.Clone(places), near: map[int64][]int32{}}, nil
}

// Len is the number of public places.
func (c *City) Len() int { return len(c.places) }

// nearest returns the K public places with the highest gravity score from
// origin (a place id at lat, lon), highest first. At most K of them can be
// the user's own (a user with fewer than K places owns fewer), so they
// always leave enough for the empty slots.
func (c *City) nearest(origin int64, lat, lon float64) []int32 {
	c.mu.Lock()
	top, ok := c.near[origin]
	c.mu.Unlock()
	if ok {
		return top
	}
	// Ranked without the lock, so users on other goroutines are not held
	// up; a ranking two of them computed at once is the same.
	type scored struct {
		row   int32
		score float64
	}
	best := make([]scored, 0, K+1)
	for i := range c.places {
		p := &c.places[i]
		d := max(haversine(lat, lon, p.Lat, p.Lon), ColdStartMinDistance)
		s := float64(p.Prior) / (d * d)
		if len(best) == K && !better(s, p.ID, best[K-1].score, c.places[best[K-1].row].ID) {
			continue
		}
		at, _ := slices.BinarySearchFunc(best, s, func(b scored, s float64) int {
			if better(b.score, c.places[b.row].ID, s, p.ID) {
				return -1
			}
			return 1
		})
		best = slices.Insert(best, at, scored{int32(i), s})
		if len(best) > K {
			best = best[:K]
		}
	}
	top = make([]int32, len(best))
	for i, b := range best {
		top[i] = b.row
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.near[origin]; ok {
		return first
	}
	c.near[origin] = top
	return top
}

// better orders by score, highest first, then by lower id.
func better(s float64, id int64, t float64, jd int64) bool {
	if s != t {
		return s > t
	}
	return cmp.Less(id, jd)
}

// SetCity turns cold-start candidates on (city non-nil) or off for the
// user's next extractions.
func (u *User) SetCity(c *City) { u.city = c }

// fillPublic writes public candidates into the empty slots [n, K) of ex,
// which holds the user's own n candidates, and returns the new count.
func (u *User) fillPublic(ex *NextDestination, n int, cur, top *placeStats) int {
	f := CandidateFeatures
	for _, row := range u.city.nearest(cur.id, cur.lat, cur.lon) {
		if n == K {
			break
		}
		p := &u.city.places[row]
		if _, own := u.index[p.ID]; own {
			continue
		}
		ex.Places[n] = p.ID
		ex.CandidateMask[n] = 1
		ex.Category[n] = int64(p.Category)
		x := ex.Candidates[n*f : (n+1)*f]
		x[10] = neverVisited
		x[13] = log1p(haversine(cur.lat, cur.lon, p.Lat, p.Lon) / 1000)
		x[14] = log1p(haversine(top.lat, top.lon, p.Lat, p.Lon) / 1000)
		x[15] = log1p(float64(p.Prior))
		n++
	}
	return n
}
