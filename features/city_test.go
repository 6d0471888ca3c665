package features

import (
	"math"
	"testing"
)

// testCity is a line of public places north of the test visits' places
// (visit puts place p at latitude 39.7 + p·0.01): ids 100.., 0.005° (about
// 550 m) apart, with priors that make the gravity order differ from the
// distance order in one spot.
func testCity(t *testing.T, n int) *City {
	t.Helper()
	var ps []PublicPlace
	for i := range n {
		ps = append(ps, PublicPlace{ID: 100 + int64(i), Category: CategoryIndex("food"), Lat: 39.71 + float64(i)*0.005, Lon: -75.5, Prior: 1})
	}
	ps[3].Prior = 50 // far but popular: ranks ahead of nearer places
	// The user's own places are public places too: they must not be
	// offered twice.
	ps = append(ps, PublicPlace{ID: 2, Category: CategoryIndex("work"), Lat: 39.72, Lon: -75.5, Prior: 1})
	c, err := NewCity(ps)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestColdStartCandidates(t *testing.T) {
	seq := []Visit{visit(1, 0, 8, "home"), visit(2, 8.5, 17, "work"), visit(1, 17.5, 19, "home"), visit(3, 19.2, 20, "shop")}
	plain, cold := NewUser(), NewUser()
	city := testCity(t, 40)
	cold.SetCity(city)
	for _, v := range seq {
		for _, u := range []*User{plain, cold} {
			if err := u.Observe(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	now := seq[len(seq)-1].Depart
	a, b := NewNextDestination(), NewNextDestination()
	if !plain.Extract(now, a) || !cold.Extract(now, b) {
		t.Fatal("Extract: no example")
	}
	// The user's own three places come first, with the same features.
	for c := range 3 {
		if a.Places[c] != b.Places[c] || a.CandidateMask[c] != 1 || b.CandidateMask[c] != 1 {
			t.Fatalf("own candidate %d: %d vs %d", c, a.Places[c], b.Places[c])
		}
		for j := range CandidateFeatures {
			if a.Candidates[c*CandidateFeatures+j] != b.Candidates[c*CandidateFeatures+j] {
				t.Fatalf("own candidate %d feature %s changed", c, CandidateFeatureNames[j])
			}
		}
	}
	if a.CandidateMask[3] != 0 || a.Places[3] != -1 {
		t.Fatalf("without a city slot 3 is %d (mask %v), want padding", a.Places[3], a.CandidateMask[3])
	}
	// With one, every slot is filled, with public places the user has
	// not visited, each once.
	seen := map[int64]bool{}
	for c := 3; c < K; c++ {
		p := b.Places[c]
		if b.CandidateMask[c] != 1 || p < 100 || seen[p] {
			t.Fatalf("slot %d: place %d, mask %v (seen %v)", c, p, b.CandidateMask[c], seen[p])
		}
		seen[p] = true
		x := b.Candidates[c*CandidateFeatures : (c+1)*CandidateFeatures]
		for j, name := range CandidateFeatureNames {
			switch name {
			case "log_hours_since":
				if x[j] != -1 {
					t.Errorf("slot %d: %s %v, want −1 (never visited)", c, name, x[j])
				}
			case "log_mean_stay":
				if want := float32(math.Log1p(float64(city.places[p-100].Prior))); x[j] != want {
					t.Errorf("slot %d: %s %v, want log(1 + prior) %v", c, name, x[j], want)
				}
			case "log_km_current", "log_km_top":
				if !(x[j] >= 0) {
					t.Errorf("slot %d: %s %v, want a distance", c, name, x[j])
				}
			default:
				if x[j] != 0 {
					t.Errorf("slot %d: %s %v, want 0 (no visits)", c, name, x[j])
				}
			}
		}
		if b.Category[c] != int64(CategoryIndex("food")) {
			t.Errorf("slot %d: category %d", c, b.Category[c])
		}
	}
	// Gravity from the current place (3, at 39.73): the popular 103 first,
	// then the nearest.
	if b.Places[3] != 103 {
		t.Errorf("first public candidate %d, want the popular 103", b.Places[3])
	}
	for c := 4; c < K; c++ {
		km := func(c int) float32 { return b.Candidates[c*CandidateFeatures+13] }
		if c > 4 && km(c) < km(c-1) {
			t.Errorf("slot %d is nearer (%v) than slot %d (%v) at equal priors", c, km(c), c-1, km(c-1))
		}
	}
	// A first visit to a public candidate is now a label.
	if l := b.Label(120); l < 3 || a.Label(120) != -1 {
		t.Errorf("label of public place 120: %d with the city, %d without", l, a.Label(120))
	}
	// The Markov baseline gives public candidates the padding's score.
	m := make([]float32, K)
	cold.Markov(b, m)
	if !(m[3] > 0) || m[3] >= m[0] {
		t.Errorf("Markov: public %v vs home %v", m[3], m[0])
	}
	// History indices are the own places' only.
	for _, h := range b.History {
		if h >= 3 && h != NotCandidate {
			t.Errorf("history %v points at a public candidate", b.History)
		}
	}
}

// A user with K or more places gets no public candidates.
func TestColdStartFullUser(t *testing.T) {
	u := NewUser()
	u.SetCity(testCity(t, 10))
	for i := range K + 3 {
		if err := u.Observe(visit(int64(1000+i), float64(2*i), float64(2*i+1), "shop")); err != nil {
			t.Fatal(err)
		}
	}
	ex := NewNextDestination()
	u.Extract(monday+int64(2*(K+3))*3600, ex)
	for c, p := range ex.Places {
		if p < 1000 || ex.Candidates[c*CandidateFeatures+10] < 0 {
			t.Fatalf("slot %d: place %d", c, p)
		}
	}
}

func TestNewCityRejects(t *testing.T) {
	ok := PublicPlace{ID: 1, Category: 2, Prior: 1}
	for name, ps := range map[string][]PublicPlace{
		"duplicate id": {ok, ok},
		"zero prior":   {{ID: 1, Category: 2}},
		"NaN prior":    {{ID: 1, Category: 2, Prior: float32(math.NaN())}},
		"category":     {{ID: 1, Category: len(Categories), Prior: 1}},
	} {
		if _, err := NewCity(ps); err == nil {
			t.Errorf("%s: NewCity accepted %+v", name, ps)
		}
	}
}

// The public-candidate slots fillPublic writes by index have the names
// the doc gives them.
func TestColdStartSlots(t *testing.T) {
	for i, want := range map[int]string{10: "log_hours_since", 13: "log_km_current", 14: "log_km_top", 15: "log_mean_stay"} {
		if CandidateFeatureNames[i] != want {
			t.Errorf("feature %d is %s, want %s", i, CandidateFeatureNames[i], want)
		}
	}
}
