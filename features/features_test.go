package features

import (
	"math"
	"os/exec"
	"strings"
	"testing"
)

// monday is 2024-01-01 00:00 UTC, a Monday.
const monday = 1704067200

func TestHourOfWeek(t *testing.T) {
	for _, c := range []struct {
		t      int64
		offset int
		want   float64
	}{
		{monday, 0, 0},
		{monday + 90*60, 0, 1.5},
		{monday + 5*86400 + 13*3600, 0, 133}, // Saturday 13:00
		{monday - 3600, 0, 167},              // Sunday 23:00
		{monday, -5 * 3600, 163},             // UTC−5: still Sunday 19:00
		{monday + 7*86400 + 3600, 3600, 2},   // a week later, UTC+1
	} {
		if got := HourOfWeek(c.t, c.offset); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("HourOfWeek(%d, %d) = %v, want %v", c.t, c.offset, got, c.want)
		}
	}
	if b := Bucket(133.5); b != 24+13 {
		t.Errorf("Bucket(Saturday 13:30) = %d, want %d", b, 24+13)
	}
	if b := Bucket(8.2); b != 8 {
		t.Errorf("Bucket(Monday 08:12) = %d, want 8", b)
	}
}

// visit makes a stay at place p from hour a to hour d after monday.
func visit(p int64, a, d float64, cat string) Visit {
	return Visit{Place: p, Arrive: monday + int64(a*3600), Depart: monday + int64(d*3600),
		Category: CategoryIndex(cat), Lat: 39.7 + float64(p)*0.01, Lon: -75.5}
}

func TestNextDestination(t *testing.T) {
	u := NewUser()
	// home(1) → work(2) → home → shop(3) → home → work, then leave work.
	seq := []Visit{
		visit(1, 0, 8, "home"), visit(2, 8.5, 17, "work"), visit(1, 17.5, 19, "home"),
		visit(3, 19.2, 20, "shop"), visit(1, 20.3, 32, "home"), visit(2, 32.5, 41, "work"),
	}
	for _, v := range seq {
		if err := u.Observe(v); err != nil {
			t.Fatal(err)
		}
	}
	ex := NewNextDestination()
	now := seq[len(seq)-1].Depart
	if !u.Extract(now, ex) {
		t.Fatal("Extract: no example")
	}
	// Candidates by count: home (3), work (2), shop (1).
	if got := ex.Places[:4]; got[0] != 1 || got[1] != 2 || got[2] != 3 || got[3] != -1 {
		t.Fatalf("candidate places %v, want [1 2 3 -1]", got)
	}
	if ex.CandidateMask[2] != 1 || ex.CandidateMask[3] != 0 || ex.Category[1] != int64(CategoryIndex("work")) || ex.Category[3] != Pad {
		t.Errorf("mask %v category %v", ex.CandidateMask[:4], ex.Category[:4])
	}
	// History: 2 pads, then home work home shop home work as indices.
	want := []int64{Pad, Pad, 0, 1, 0, 2, 0, 1}
	for i, w := range want {
		if ex.History[i] != w {
			t.Fatalf("history %v, want %v", ex.History, want)
		}
	}
	if ex.HourOfWeek != 41 {
		t.Errorf("hour of week %d, want 41 (Tuesday 17:00)", ex.HourOfWeek)
	}
	f := CandidateFeatures
	feat := func(c int, name string) float32 {
		for i, n := range CandidateFeatureNames {
			if n == name {
				return ex.Candidates[c*f+i]
			}
		}
		t.Fatalf("no feature %q", name)
		return 0
	}
	// From work: one move work → home before; none to shop.
	if got := feat(0, "trans_share"); got != 1 {
		t.Errorf("trans_share(home | work) = %v, want 1", got)
	}
	if got := feat(2, "log_trans"); got != 0 {
		t.Errorf("log_trans(shop | work) = %v, want 0", got)
	}
	// Departure-time transitions: work → home happened at 17:00 Monday, now is 17:00 Tuesday.
	if got := feat(0, "trans_near_share"); got != 1 {
		t.Errorf("trans_near_share(home) = %v, want 1", got)
	}
	// Second order: home → work → home once.
	if got := feat(0, "trans2_share"); got != 1 {
		t.Errorf("trans2_share(home | home, work) = %v, want 1", got)
	}
	if feat(1, "is_current") != 1 || feat(0, "is_previous") != 1 || feat(2, "is_current") != 0 {
		t.Error("is_current / is_previous flags wrong")
	}
	if got, want := feat(2, "log_hours_since"), float32(math.Log1p(21)); math.Abs(float64(got-want)) > 1e-5 {
		t.Errorf("hours since shop: %v, want %v", got, want)
	}
	if got := feat(0, "visit_share"); math.Abs(float64(got)-0.5) > 1e-6 {
		t.Errorf("visit_share(home) = %v, want 0.5", got)
	}
	// Day of week: every arrival was on Monday, so Tuesday 17:00 has
	// weekday arrivals near (home at Monday 17:30) but none on this day.
	if feat(0, "log_arrivals_near") == 0 || feat(0, "log_arrivals_dow") != 0 || feat(0, "arrival_dow_share") != 0 {
		t.Errorf("home at Tuesday 17:00: arrivals near %v, on this day of week %v", feat(0, "log_arrivals_near"), feat(0, "log_arrivals_dow"))
	}
	if ex.Label(1) != 0 || ex.Label(3) != 2 || ex.Label(99) != -1 {
		t.Errorf("labels: home %d shop %d unknown %d", ex.Label(1), ex.Label(3), ex.Label(99))
	}
	// Markov from work: T = {home: 1}; q from counts (3, 2, 1) over K.
	m := make([]float32, K)
	u.Markov(ex, m)
	q := func(n float64) float64 { return (n + 0.5) / (6 + K/2.0) }
	if want := (1 + q(3)) / 2; math.Abs(float64(m[0])-want) > 1e-6 {
		t.Errorf("markov(home) = %v, want %v", m[0], want)
	}
	if want := q(0) / 2; math.Abs(float64(m[5])-want) > 1e-6 {
		t.Errorf("markov(padding) = %v, want %v", m[5], want)
	}
	// The next Monday at 17:00: home (17:30) and shop (19:12) arrived in
	// Monday's 17–19 h window, one each.
	u.Extract(monday+(7*24+17)*3600, ex)
	if feat(0, "arrival_dow_share") != 0.5 || feat(2, "arrival_dow_share") != 0.5 || feat(1, "log_arrivals_dow") != 0 {
		t.Errorf("Monday 17:00 day-of-week shares: home %v shop %v work %v", feat(0, "arrival_dow_share"), feat(2, "arrival_dow_share"), feat(1, "arrival_dow_share"))
	}
	if err := u.Observe(visit(1, 30, 31, "home")); err == nil {
		t.Error("Observe accepted a visit out of time order")
	}
}

func TestHistoryMarksNonCandidates(t *testing.T) {
	u := NewUser()
	// K+3 distinct places once each, then place 0 five times: the last
	// places seen once fall outside the top K.
	h := 0.0
	for p := 0; p < K+3; p++ {
		u.Observe(visit(int64(p), h, h+1, "other"))
		h += 2
	}
	ex := NewNextDestination()
	u.Extract(monday+int64(h*3600), ex)
	// Ties on count break by most recent departure: the last K places seen
	// are the candidates, so the oldest history entries are outside.
	for i, c := range ex.History {
		if c < 0 || c > K {
			t.Fatalf("history[%d] = %d out of range", i, c)
		}
	}
	if ex.History[HistoryLen-1] != 0 {
		t.Errorf("current place has index %d, want 0 (most recent among ties)", ex.History[HistoryLen-1])
	}
	if ex.Label(0) != -1 || ex.Label(2) != -1 || ex.Label(3) < 0 {
		t.Errorf("places 0–2 should be outside the candidates, 3 inside: %d %d %d", ex.Label(0), ex.Label(2), ex.Label(3))
	}
}

func TestRouteFeatures(t *testing.T) {
	r := Route{LengthM: 12000, FreeFlowS: 600, Turns: 5, Edges: 40, Depart: monday + 4*86400 + 17*3600 + 1800}
	r.ClassShare[0] = 0.5
	r.ClassShare[5] = 0.5
	out := make([]float32, RouteFeatures)
	r.Features(0, out)
	get := func(name string) float32 {
		for i, n := range RouteFeatureNames {
			if n == name {
				return out[i]
			}
		}
		t.Fatalf("no feature %q", name)
		return 0
	}
	if get("friday") != 1 || get("weekday") != 1 || get("weekend") != 0 {
		t.Error("day flags wrong for a Friday")
	}
	if got := get("turns_per_min"); got != 0.5 {
		t.Errorf("turns_per_min = %v, want 0.5", got)
	}
	// 17:30: the 17 and 18 o'clock centres are equally active and highest.
	a, b, c := get("hour_rbf_17"), get("hour_rbf_18"), get("hour_rbf_12")
	if math.Abs(float64(a-b)) > 1e-6 || a < 0.7 || c > 1e-6 {
		t.Errorf("hour RBF at 17:30: h17 %v h18 %v h12 %v", a, b, c)
	}
	if got := LogRatio(660, 600); math.Abs(got-math.Log(1.1)) > 1e-12 {
		t.Errorf("LogRatio = %v", got)
	}
}

// TestDeviceSide holds the package to DESIGN.md's device-side rule: a phone
// build links the standard library and nothing else.
func TestDeviceSide(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(cmd.Environ(), "GOOS=android", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(p, "/")
		if strings.Contains(first, ".") && p != "github.com/sextant-ml/sextant/features" {
			t.Errorf("features links %s on android/arm64", p)
		}
	}
}
