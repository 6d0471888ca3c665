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
	slots  []float64 // visits per seen place and routine slot, [k*numSlots+b]
	recent []int32   // seen places, most recently visited first
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
	s.seen, s.counts, s.slots, s.recent = s.seen[:0], s.counts[:0], s.slots[:0], s.recent[:0]
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

// Routine slots: a visit's time of week in 3-hour bands of each day, so
// "Tuesday 18–21 h" is one slot (7 × 8 = 56 slots).
const (
	slotHours = 3
	numSlots  = 7 * 24 / slotHours
)

// slotOf is the routine slot of t (seconds since the Monday 00:00 start).
func slotOf(t int64) int { return int(t%(168*hour)) / (slotHours * hour) }

// next picks the next non-anchor place by d-EPR: explore a new place with
// probability ρ·S^−γ (S counts every distinct place, anchors included),
// choosing it ∝ relevance_j / r_ij² (the current place's relevance is a
// common factor); otherwise return to a visited non-anchor place other than
// the current one. Going home and to work is the schedule's business.
//
// A return is a mixture (Params.RoutineShare, Params.RecencyShare): a
// routine return repeats the agent's own past visits in this time-of-week
// slot (∝ the place's visits in the slot; a plain preferential return when
// the slot has none), a recency return picks the K-th most recently visited
// place ∝ K^−η (Barbosa et al. 2015), and the rest are Song et al.'s
// preferential return ∝ visits.
func (s *simulator) next() int32 {
	p := &s.pop.params
	S := float64(len(s.seen))
	sum := 0.0
	for k, pl := range s.seen {
		if s.returnable(pl) {
			sum += s.counts[k]
		}
	}
	if sum == 0 || s.rng.Float64() < s.a.Rho*math.Pow(S, -p.Gamma) {
		if j := s.explore(); j >= 0 {
			return j
		}
	}
	if sum == 0 {
		return s.a.Home
	}
	switch u := s.rng.Float64(); {
	case u < p.RoutineShare:
		if pl := s.routine(slotOf(s.t)); pl >= 0 {
			return pl
		}
	case u < p.RoutineShare+p.RecencyShare:
		return s.recency(p.RecencyExponent)
	}
	u := s.rng.Float64() * sum
	last := s.a.Home
	for k, pl := range s.seen {
		if !s.returnable(pl) {
			continue
		}
		last = pl
		u -= s.counts[k]
		if u < 0 {
			return pl
		}
	}
	return last
}

// returnable reports whether a visited place can be the target of a return:
// not an anchor, not where the agent is.
func (s *simulator) returnable(pl int32) bool {
	return pl != s.cur && pl != s.a.Home && pl != s.a.Work
}

// routine draws a returnable place ∝ its past visits in slot b, or −1 when
// it has none.
func (s *simulator) routine(b int) int32 {
	sum := 0.0
	for k, pl := range s.seen {
		if s.returnable(pl) {
			sum += s.slots[k*numSlots+b]
		}
	}
	if sum == 0 {
		return -1
	}
	u := s.rng.Float64() * sum
	last := int32(-1)
	for k, pl := range s.seen {
		if c := s.slots[k*numSlots+b]; c > 0 && s.returnable(pl) {
			last = pl
			if u -= c; u < 0 {
				return pl
			}
		}
	}
	return last
}

// recency draws the K-th most recently visited returnable place ∝ K^−η.
func (s *simulator) recency(eta float64) int32 {
	sum, k := 0.0, 0
	for _, pl := range s.recent {
		if s.returnable(pl) {
			k++
			sum += math.Pow(float64(k), -eta)
		}
	}
	u := s.rng.Float64() * sum
	k = 0
	last := s.a.Home
	for _, pl := range s.recent {
		if !s.returnable(pl) {
			continue
		}
		k++
		last = pl
		if u -= math.Pow(float64(k), -eta); u < 0 {
			return pl
		}
	}
	return last
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

// visit counts a stay at pl starting now (s.t): its visits, its visits in
// the current routine slot, and its place at the front of the recency list.
func (s *simulator) visit(pl int32) (isNew bool) {
	k := s.slot[pl]
	if isNew = k < 0; isNew {
		k = int32(len(s.seen))
		s.slot[pl] = k
		s.seen = append(s.seen, pl)
		s.counts = append(s.counts, 0)
		for range numSlots {
			s.slots = append(s.slots, 0)
		}
		s.recent = append(s.recent, pl)
	}
	s.counts[k]++
	s.slots[int(k)*numSlots+slotOf(s.t)]++
	i := len(s.recent) - 1
	for s.recent[i] != pl {
		i--
	}
	copy(s.recent[1:i+1], s.recent[:i])
	s.recent[0] = pl
	return isNew
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
