package mobility_test

import (
	"context"
	"math"
	"reflect"
	"sort"
	"testing"

	"github.com/sextant-ml/sextant/mobility"
)

func collect(t *testing.T, cfg mobility.Config) []mobility.User {
	t.Helper()
	g, err := mobility.NewGenerator(testCity(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []mobility.User
	err = g.Run(context.Background(), func(u *mobility.User) error {
		c := *u
		c.Visits = append([]mobility.Visit(nil), u.Visits...)
		c.Trips = append([]mobility.Trip(nil), u.Trips...)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeterministic: the output is a function of the seed alone, not of the
// number of workers, and Simulate agrees with Run.
func TestDeterministic(t *testing.T) {
	a := collect(t, mobility.Config{Users: 40, Weeks: 2, Seed: 5, Workers: 1})
	b := collect(t, mobility.Config{Users: 40, Weeks: 2, Seed: 5, Workers: 3})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("1 and 3 workers produced different populations")
	}
	c := collect(t, mobility.Config{Users: 40, Weeks: 2, Seed: 6, Workers: 2})
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 5 and 6 produced the same population")
	}
	g, _ := mobility.NewGenerator(testCity(t), mobility.Config{Users: 40, Weeks: 2, Seed: 5})
	if u := g.Simulate(17); !reflect.DeepEqual(*u, a[17]) {
		t.Fatal("Simulate(17) differs from Run's user 17")
	}
}

// TestTimelineConsistent checks each user's stays and trips form one
// timeline: visits ordered and disjoint, every trip leaving when a stay
// ends and arriving when the next begins.
func TestTimelineConsistent(t *testing.T) {
	c := testCity(t)
	users := collect(t, mobility.Config{Users: 60, Weeks: 3, Seed: 9})
	var recorded, stays, workers int
	for _, u := range users {
		a := u.Agent
		if c.Places[a.Home].Category != mobility.Home {
			t.Fatalf("user %d lives at a %s", a.ID, c.Places[a.Home].Category)
		}
		if a.Work >= 0 {
			workers++
			if c.Places[a.Work].Category == mobility.Home {
				t.Fatalf("user %d works at a home site", a.ID)
			}
		}
		if len(u.Trips) != u.Stays-1 {
			t.Fatalf("user %d: %d trips between %d stays", a.ID, len(u.Trips), u.Stays)
		}
		for i, v := range u.Visits {
			if v.Depart < v.Arrive || v.Seq != int32(i) {
				t.Fatalf("user %d visit %d: %+v", a.ID, i, v)
			}
			if i > 0 && v.Arrive < u.Visits[i-1].Depart {
				t.Fatalf("user %d visits %d and %d overlap", a.ID, i-1, i)
			}
		}
		for i, tr := range u.Trips {
			if tr.From == tr.To || tr.Actual <= 0 || tr.Expected <= 0 || tr.Route.Length <= 0 {
				t.Fatalf("user %d trip %d: %+v", a.ID, i, tr)
			}
			if i > 0 && u.Trips[i-1].To != tr.From {
				t.Fatalf("user %d trip %d leaves %d, the last one arrived at %d", a.ID, i, tr.From, u.Trips[i-1].To)
			}
		}
		recorded += len(u.Visits)
		stays += u.Stays
	}
	if recorded >= stays || float64(recorded) < 0.8*float64(stays) {
		t.Fatalf("recorded %d of %d stays; want some but few dropped", recorded, stays)
	}
	if workers < len(users)/2 {
		t.Fatalf("only %d of %d users have a work or school anchor", workers, len(users))
	}
}

// TestTravelTimes checks the ETA labels: the recorded times scatter around
// the expected ones with median ratio 1, rush hour is slower than night,
// and the free-flow estimate is biased (something for a model to learn).
func TestTravelTimes(t *testing.T) {
	if mobility.Congestion(8) <= mobility.Congestion(3) || mobility.Congestion(8) < 0.9 || mobility.Congestion(24*5+8) > 0.3 {
		t.Fatalf("congestion: Monday 08:00 %g, 03:00 %g, Saturday 08:00 %g",
			mobility.Congestion(8), mobility.Congestion(3), mobility.Congestion(24*5+8))
	}
	users := collect(t, mobility.Config{Users: 80, Weeks: 2, Seed: 3})
	var ratios []float64
	var ffErr, floorErr float64
	for _, u := range users {
		for _, tr := range u.Trips {
			ratios = append(ratios, math.Log(tr.Actual/tr.Expected))
			ffErr += math.Abs(tr.Actual - tr.Route.FreeFlow)
			floorErr += math.Abs(tr.Actual - tr.Expected)
		}
	}
	sort.Float64s(ratios)
	if med := ratios[len(ratios)/2]; math.Abs(med) > 0.02 {
		t.Errorf("median log(actual/expected) = %.3f, want 0", med)
	}
	if ffErr < 1.5*floorErr {
		t.Errorf("free-flow MAE %.1f s vs floor %.1f s: no gap for an ETA model to close", ffErr/float64(len(ratios)), floorErr/float64(len(ratios)))
	}
	t.Logf("%d trips: free-flow MAE %.1f s, noise floor MAE %.1f s", len(ratios), ffErr/float64(len(ratios)), floorErr/float64(len(ratios)))
}
