package dataset_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/mobility"
	"github.com/sextant-ml/sextant/mobility/dataset"
)

// TestWriteReadBack streams a small population to Parquet and reads every
// table back, checking row counts and a few values against the simulation.
func TestWriteReadBack(t *testing.T) {
	city, err := mobility.LoadCity("../../mobility/wilmington/wilmington-newark.city.gz")
	if err != nil {
		t.Fatal(err)
	}
	g, err := mobility.NewGenerator(city, mobility.Config{Users: 25, Weeks: 2, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := dataset.Create(dir, city, mobility.DefaultStart)
	if err != nil {
		t.Fatal(err)
	}
	var visits, trips int
	var lastTrip mobility.Trip
	err = g.Run(context.Background(), func(u *mobility.User) error {
		visits += len(u.Visits)
		trips += len(u.Trips)
		lastTrip = u.Trips[len(u.Trips)-1]
		return w.Add(u)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	vr, err := parquet.ReadFile[dataset.VisitRow](filepath.Join(dir, dataset.VisitsFile))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := parquet.ReadFile[dataset.TripRow](filepath.Join(dir, dataset.TripsFile))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := parquet.ReadFile[dataset.PlaceRow](filepath.Join(dir, dataset.PlacesFile))
	if err != nil {
		t.Fatal(err)
	}
	ur, err := parquet.ReadFile[dataset.UserRow](filepath.Join(dir, dataset.UsersFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(vr) != visits || len(tr) != trips || len(pr) != len(city.Places) || len(ur) != 25 {
		t.Fatalf("rows: %d visits (want %d), %d trips (want %d), %d places, %d users", len(vr), visits, len(tr), trips, len(pr), len(ur))
	}
	start := mobility.DefaultStart.Unix()
	for i, v := range vr {
		if v.Depart < v.Arrive || v.Arrive < start || v.HourOfWeek < 0 || v.HourOfWeek >= 168 || v.Category != city.Places[v.PlaceID].Category.String() {
			t.Fatalf("visit row %d: %+v", i, v)
		}
		if i > 0 && vr[i-1].UserID > v.UserID {
			t.Fatalf("visit rows out of user order at %d", i)
		}
	}
	last := tr[len(tr)-1]
	if last.UserID != 24 || last.TravelS != float32(lastTrip.Actual) || last.ExpectedS != float32(lastTrip.Expected) || last.Turns != int32(lastTrip.Route.Turns) {
		t.Fatalf("last trip row %+v, simulated %+v", last, lastTrip)
	}
	for i, u := range ur {
		if u.UserID != int64(i) || pr[u.HomePlace].Category != "home" || (u.Kind != "explorer" && u.Kind != "returner") {
			t.Fatalf("user row %d: %+v", i, u)
		}
	}
}
