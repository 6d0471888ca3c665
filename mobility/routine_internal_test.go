package mobility

import (
	"sync"
	"testing"
)

var (
	routineOnce  sync.Once
	routineCity  *City
	routineTable *RouteTable
	routineErr   error
)

// returnStats measures, over the recorded return visits (Purpose
// Returning) of a seeded population, how often the place had already been
// visited in the same routine slot (weekday × 3-hour band) and how often it
// was among the three most recently visited non-anchor places, both judged from the
// user's earlier recorded visits only — what a model on the phone sees.
// The populations share one route table, whose shortest-path trees are
// most of a run's cost.
func returnStats(t *testing.T, p *Params) (sameSlot, mostRecent float64, n int) {
	t.Helper()
	routineOnce.Do(func() {
		if routineCity, routineErr = LoadCity("../mobility/wilmington/wilmington-newark.city.gz"); routineErr == nil {
			routineTable = NewRouteTable(routineCity)
		}
	})
	if routineErr != nil {
		t.Fatal(routineErr)
	}
	const users, weeks, seed = 120, 8, 9
	s := newSimulator(newPopulation(routineCity, *p), routineTable, weeks)
	var hitSlot, hitRecent int
	var u User
	for id := int64(0); id < users; id++ {
		s.run(seed, id, &u)
		seen := map[[2]int64]bool{}
		var recent []int32 // non-anchor places, most recent first
		for _, v := range u.Visits {
			slot := v.Arrive % (168 * 3600) / (3 * 3600)
			if v.Purpose == Returning {
				n++
				if seen[[2]int64{int64(v.Place), slot}] {
					hitSlot++
				}
				for i := 0; i < len(recent) && i < 3; i++ {
					if recent[i] == v.Place {
						hitRecent++
					}
				}
			}
			seen[[2]int64{int64(v.Place), slot}] = true
			if v.Purpose == Returning || v.Purpose == Exploring {
				recent = moveToFront(recent, v.Place)
			}
		}
	}
	return float64(hitSlot) / float64(n), float64(hitRecent) / float64(n), n
}

func moveToFront(list []int32, pl int32) []int32 {
	i := 0
	for i < len(list) && list[i] != pl {
		i++
	}
	if i == len(list) {
		list = append(list, pl)
	}
	copy(list[1:i+1], list[:i])
	list[0] = pl
	return list
}

// TestRoutineReturns checks that returns depend on the time of week and on
// recency as Params says. Routines: with the default shares, a return goes
// to a place already visited in the same slot clearly more often than
// under plain preferential return. Recency: with the recency share, more
// returns go to one of the three last non-anchor places than with the
// routine alone.
func TestRoutineReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates three populations")
	}
	def := DefaultParams()
	plain, routine := def, def
	plain.RoutineShare, plain.RecencyShare = 0, 0
	routine.RecencyShare = 0
	var (
		s0, s1, r1, r2 float64
		n0, n1, n2     int
		wg             sync.WaitGroup
	)
	returnStats(t, &def) // loads the city and warms the shared route table
	wg.Add(3)
	go func() { defer wg.Done(); s1, r1, n1 = returnStats(t, &def) }()
	go func() { defer wg.Done(); s0, _, n0 = returnStats(t, &plain) }()
	go func() { defer wg.Done(); _, r2, n2 = returnStats(t, &routine) }()
	wg.Wait()
	t.Logf("returns to a place visited in the same slot: %.3f by default, %.3f with plain preferential return; to one of the 3 last places: %.3f by default, %.3f without recency (%d, %d, %d returns)", s1, s0, r1, r2, n1, n0, n2)
	if min(n0, n1, n2) < 2000 {
		t.Fatalf("too few returns (%d, %d, %d)", n1, n0, n2)
	}
	if s1 < s0+0.1 {
		t.Errorf("returns to a place visited in the same slot: %.3f with routines, %.3f without; want at least 10 points more", s1, s0)
	}
	if r1 < r2+0.01 {
		t.Errorf("returns to one of the three most recent non-anchor places: %.3f with recency, %.3f without; want at least 1 point more", r1, r2)
	}
}
