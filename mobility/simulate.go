package mobility

import (
	"math"
	"math/rand/v2"
)

// Purpose is why an agent is at a place.
type Purpose uint8

// Purposes of a stay.
const (
	AtHome    Purpose = iota // the agent's home
	AtWork                   // the agent's work anchor
	AtSchool                 // the agent's school anchor
	Exploring                // first visit to a place
	Returning                // a later visit to a non-anchor place
)

var purposeNames = [...]string{"home", "work", "school", "explore", "return"}

func (p Purpose) String() string {
	if int(p) < len(purposeNames) {
		return purposeNames[p]
	}
	return "unknown"
}

// Visit is one recorded stay. Arrive and Depart are seconds since the
// simulation start (Monday 00:00).
type Visit struct {
	Seq            int32 // index among the user's recorded visits
	Place          int32
	Arrive, Depart int64
	Purpose        Purpose
	New            bool // the first stay of this user at this place
}

// Trip is one drive between consecutive stays (recorded whether or not the
// stays were).
type Trip struct {
	Seq      int32
	From, To int32 // places
	Depart   int64 // seconds since the simulation start
	Route    RouteFeatures
	// Expected is the conditional median travel time given the route and
	// departure (the ETA noise floor); Actual adds the driver's factor and
	// the trip's noise. Both in seconds.
	Expected, Actual float64
}

// User is one agent's simulated weeks. The generator reuses it after the
// callback returns: copy what you keep.
type User struct {
	Agent  Agent
	Visits []Visit
	Trips  []Trip
	Stays  int // true stays, recorded or not
}

// simulator runs agents one at a time with reusable scratch; one per
// goroutine.
type simulator struct {
	pop     *population
	table   *RouteTable
	traffic Traffic
	weeks   int

	rng    *rand.Rand
	a      *Agent
	u      *User
	w      []float64 // scratch, len(places)
	slot   []int32   // place -> index in visited, -1 if unvisited
	seen   []int32   // visited places in first-visit order
	counts []float64 // visits per seen place
	gap    []bool    // days without recordings

	t, stayStart int64
	cur          int32
	curPurpose   Purpose
	curNew       bool
}

func newSimulator(pop *population, table *RouteTable, weeks int) *simulator {
	n := len(pop.city.Places)
	s := &simulator{pop: pop, table: table, traffic: DefaultTraffic(), weeks: weeks,
		w: make([]float64, n), slot: make([]int32, n), gap: make([]bool, 7*weeks)}
	for i := range s.slot {
		s.slot[i] = -1
	}
	return s
}

const hour = 3600

// run simulates agent id into u, seeded by (seed, id).
func (s *simulator) run(seed uint64, id int64, u *User) {
	s.rng = rand.New(rand.NewPCG(seed, uint64(id)))
	u.Agent = s.pop.agent(id, s.rng, s.w)
	u.Visits, u.Trips, u.Stays = u.Visits[:0], u.Trips[:0], 0
	s.a, s.u = &u.Agent, u
	for _, p := range s.seen {
		s.slot[p] = -1
	}
	s.seen, s.counts = s.seen[:0], s.counts[:0]
	p := &s.pop.params
	for d := range s.gap {
		s.gap[d] = s.rng.Float64() < p.GapDayRate
	}
	a := s.a
	s.t, s.stayStart, s.cur = 0, 0, a.Home
	s.curPurpose, s.curNew = AtHome, true
	s.visit(a.Home)
	end := int64(7*s.weeks) * 24 * hour
	for d := 0; d < 7*s.weeks; d++ {
		day := int64(d) * 24 * hour
		at := func(h float64) int64 { return day + int64(h*hour) }
		weekday := d%7 < 5
		bed := at(a.Bedtime + 0.3*s.rng.NormFloat64())
		if weekday && a.Work >= 0 && s.rng.Float64() >= p.DayOffRate {
			s.waitUntil(at(a.WorkStart + 0.25*s.rng.NormFloat64()))
			s.moveTo(a.Work)
			workEnd := at(a.WorkStart + a.WorkHours + 0.4*s.rng.NormFloat64())
			if !a.School && s.rng.Float64() < p.LunchRate {
				s.waitUntil(at(12 + 0.5*s.rng.NormFloat64()))
				s.moveTo(s.next())
				s.waitUntil(s.t + int64(math.Min(stayHours(p, s.rng), 1.25)*hour))
				s.moveTo(a.Work)
			}
			s.waitUntil(workEnd)
			s.freeTime(bed, false)
		} else {
			s.waitUntil(at(a.Wake + 0.5*s.rng.NormFloat64()))
			s.freeTime(bed, true)
		}
		if s.cur != a.Home {
			s.waitUntil(bed)
			s.moveTo(a.Home)
		}
	}
	s.t = max(s.t, end)
	s.endStay()
}

// freeTime runs tours until the window closes at t1: from home (after a
// drawn stay when wait is set) or from work, the agent makes d-EPR stops,
// each followed, with probability HomeBetween, by a stay back home.
func (s *simulator) freeTime(t1 int64, wait bool) {
	p := &s.pop.params
	if wait {
		s.waitUntil(s.t + int64(stayHours(p, s.rng)*hour))
	}
	for s.t < t1 {
		dst := s.next()
		if s.cur != s.a.Home && dst != s.a.Home && s.rng.Float64() < p.HomeBetween {
			dst = s.a.Home
		}
		s.moveTo(dst)
		stay := s.t + int64(stayHours(p, s.rng)*hour)
		if stay > t1 {
			stay = max(t1, s.t+int64(p.MinStay*hour))
		}
		s.waitUntil(stay)
	}
}

// next picks the next non-anchor place by d-EPR: explore a new place with
// probability ρ·S^−γ (S counts every distinct place, anchors included),
// choosing it ∝ relevance_j / r_ij² (the current place's relevance is a
// common factor); otherwise return to a visited non-anchor place ∝ its
// visits. Going home and to work is the schedule's business.
func (s *simulator) next() int32 {
	p := &s.pop.params
	a := s.a
	S := float64(len(s.seen))
	sum := 0.0
	for k, pl := range s.seen {
		if pl != s.cur && pl != a.Home && pl != a.Work {
			sum += s.counts[k]
		}
	}
	if sum == 0 || s.rng.Float64() < a.Rho*math.Pow(S, -p.Gamma) {
		if j := s.explore(); j >= 0 {
			return j
		}
	}
	u := s.rng.Float64() * sum
	for k, pl := range s.seen {
		if pl == s.cur || pl == a.Home || pl == a.Work {
			continue
		}
		u -= s.counts[k]
		if u < 0 {
			return pl
		}
	}
	return a.Home
}

func (s *simulator) explore() int32 {
	places := s.pop.city.Places
	sum := 0.0
	for j := range places {
		if s.slot[j] < 0 {
			sum += float64(places[j].Relevance) / s.pop.dist2(s.cur, int32(j))
		}
		s.w[j] = sum
	}
	if sum == 0 {
		return -1
	}
	j := int32(searchCum(s.w, s.rng.Float64()*sum))
	for s.slot[j] >= 0 { // equal cumulative values: step to the unvisited one
		j++
	}
	return j
}

func (s *simulator) visit(pl int32) (isNew bool) {
	if k := s.slot[pl]; k >= 0 {
		s.counts[k]++
		return false
	}
	s.slot[pl] = int32(len(s.seen))
	s.seen = append(s.seen, pl)
	s.counts = append(s.counts, 1)
	return true
}

func (s *simulator) waitUntil(t int64) { s.t = max(s.t, t) }

// moveTo ends the current stay, drives to dst and starts a stay there.
func (s *simulator) moveTo(dst int32) {
	if dst == s.cur {
		return
	}
	s.endStay()
	a, u := s.a, s.u
	r := s.table.Route(s.cur, dst)
	how := float64(s.t%(168*hour)) / hour
	exp := s.traffic.Expected(&r, how)
	act := exp * a.DriverFactor * math.Exp(s.traffic.TripSigma*s.rng.NormFloat64())
	u.Trips = append(u.Trips, Trip{Seq: int32(len(u.Trips)), From: s.cur, To: dst, Depart: s.t, Route: r, Expected: exp, Actual: act})
	s.t += int64(math.Round(act))
	s.cur, s.stayStart = dst, s.t
	s.curNew = s.visit(dst)
	switch {
	case dst == a.Home:
		s.curPurpose = AtHome
	case dst == a.Work && a.School:
		s.curPurpose = AtSchool
	case dst == a.Work:
		s.curPurpose = AtWork
	case s.curNew:
		s.curPurpose = Exploring
	default:
		s.curPurpose = Returning
	}
}

// endStay records the current stay unless it is dropped.
func (s *simulator) endStay() {
	u := s.u
	u.Stays++
	day := int(s.stayStart / (24 * hour))
	if day < len(s.gap) && s.gap[day] || s.rng.Float64() < s.a.DropRate {
		return
	}
	u.Visits = append(u.Visits, Visit{Seq: int32(len(u.Visits)), Place: s.cur, Arrive: s.stayStart, Depart: s.t, Purpose: s.curPurpose, New: s.curNew})
}
