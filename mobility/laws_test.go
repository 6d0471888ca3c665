package mobility_test

import (
	"context"
	"sync"
	"testing"

	"github.com/sextant-ml/sextant/mobility"
)

var (
	fixtureOnce sync.Once
	fixture     *mobility.City
	fixtureErr  error
)

// testCity loads the committed OSM-derived fixture.
func testCity(t testing.TB) *mobility.City {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = mobility.LoadCity("../mobility/wilmington/wilmington-newark.city.gz") })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

// lawPopulation simulates the seeded population the law tests measure.
func lawPopulation(t *testing.T) *mobility.Laws {
	t.Helper()
	const users, weeks = 1000, 8
	g, err := mobility.NewGenerator(testCity(t), mobility.Config{Users: users, Weeks: weeks, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	laws := mobility.NewLaws(weeks)
	if err := g.Run(context.Background(), func(u *mobility.User) error { laws.Add(u); return nil }); err != nil {
		t.Fatal(err)
	}
	zeta, zu := laws.Zipf()
	t.Logf("users %d: zeta %.3f (%d users with >= %d places), mu %.3f, top-two %.3f, visits/user %.1f, distinct/user %.1f",
		laws.Users(), zeta, zu, mobility.ZipfRanks, laws.Growth(), laws.TopTwoShare(), laws.MeanVisits(), laws.MeanDistinct())
	return laws
}

func TestMobilityLaws(t *testing.T) {
	laws := lawPopulation(t)
	if zeta, n := laws.Zipf(); zeta < 1.05 || zeta > 1.35 || n < 100 {
		t.Errorf("Zipf visitation exponent %.3f over %d users, want 1.2 ± 0.15 over at least 100", zeta, n)
	}
	if mu := laws.Growth(); mu < 0.5 || mu > 0.7 {
		t.Errorf("S(t) exponent %.3f, want 0.6 ± 0.1", mu)
	}
	if s := laws.TopTwoShare(); s < 0.6 || s > 0.7 {
		t.Errorf("share of stays at the top two places %.3f, want 0.60–0.70", s)
	}
}
