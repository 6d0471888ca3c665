package features

import (
	"math"
	"slices"
)

// Next-destination shapes.
const (
	// K is the number of candidate places scored per example.
	K = 32
	// HistoryLen is L, the number of recent visits in the history input.
	HistoryLen = 8
	// Pad marks an empty history slot.
	Pad = -1
	// NotCandidate marks a history visit to a place outside the candidates.
	NotCandidate = K
)

// CandidateFeatureNames name the per-candidate features, in order. "now"
// is the departure from the current place; "near" counts the same day type
// within an hour of the time of day that matters (arrivals: the next two
// hours; departures: now ±1 h).
var CandidateFeatureNames = []string{
	"log_visits",         // log(1 + visits to c)
	"visit_share",        // visits to c / all visits
	"log_arrivals_near",  // log(1 + arrivals at c in the coming hours on this day type)
	"arrival_near_share", // those / all arrivals then
	"log_trans",          // log(1 + moves current → c)
	"trans_share",        // moves current → c / moves out of current
	"log_trans_near",     // log(1 + moves current → c departing near now)
	"trans_near_share",   // those / moves out of current near now
	"log_trans2",         // log(1 + moves previous → current → c)
	"trans2_share",       // those / moves previous → current → anywhere
	"log_hours_since",    // log(1 + hours since c was last left)
	"is_current",         // c is the current place
	"is_previous",        // c is the previous place
	"log_km_current",     // log(1 + km from the current place)
	"log_km_top",         // log(1 + km from the most visited place)
	"log_mean_stay",      // log(1 + mean hours stayed at c)
	"log_arrivals_dow",   // log(1 + arrivals at c in the coming hours on this day of the week)
	"arrival_dow_share",  // those / all arrivals then
}

// CandidateFeatures is F, the number of features per candidate.
var CandidateFeatures = len(CandidateFeatureNames)

// ContextFeatureNames name the context features, in order.
var ContextFeatureNames = []string{
	"log_dwell",    // log(1 + hours at the current place so far)
	"hod_sin",      // sin(2π·hour of day / 24)
	"hod_cos",      // cos(2π·hour of day / 24)
	"weekend",      // Saturday or Sunday
	"log_visits",   // log(1 + visits observed)
	"log_places",   // log(1 + distinct places observed)
	"top_coverage", // share of all visits that went to the candidates
}

// ContextFeatures is C, the number of context features.
var ContextFeatures = len(ContextFeatureNames)

// NextDestination is one example's model inputs (see the package doc for
// the shapes); Places maps candidate indices back to place ids.
type NextDestination struct {
	Candidates    []float32 // K·F
	CandidateMask []float32 // K
	Category      []int64   // K: index in Categories; Pad past the user's places
	History       []int64   // HistoryLen
	HourOfWeek    int64
	Context       []float32 // C
	Places        []int64   // K place ids; −1 past the user's places
}

// NewNextDestination allocates an example's buffers.
func NewNextDestination() *NextDestination {
	return &NextDestination{
		Candidates:    make([]float32, K*CandidateFeatures),
		CandidateMask: make([]float32, K),
		Category:      make([]int64, K),
		History:       make([]int64, HistoryLen),
		Context:       make([]float32, ContextFeatures),
		Places:        make([]int64, K),
	}
}

// Label is place's candidate index, or −1 when it is not a candidate.
func (ex *NextDestination) Label(place int64) int {
	for i, p := range ex.Places {
		if p == place && ex.CandidateMask[i] > 0 {
			return i
		}
	}
	return -1
}

// Extract fills ex for predicting where the user goes after the current
// (last observed) visit, leaving at Unix time now. It reports false when no
// visit has been observed.
func (u *User) Extract(now int64, ex *NextDestination) bool {
	if u.visits == 0 {
		return false
	}
	clear(ex.Candidates)
	clear(ex.CandidateMask)
	clear(ex.Context)
	for i := range ex.Places {
		ex.Places[i] = -1
		ex.Category[i] = Pad
	}
	n := u.rank()
	how := HourOfWeek(now, u.Offset)
	b := Bucket(how)
	ex.HourOfWeek = int64(how)
	cur := &u.places[u.lastRow]

	// Denominators shared by the candidates.
	var arrNear, arrDow int32
	for i := range u.places {
		arrNear += near(&u.places[i].arrivals, b, 0, 2)
		arrDow += nearWeek(&u.places[i].byHour, int(how), 0, 2)
	}
	var outAll, outNear, out2 int32
	if o := u.out[u.lastRow]; o != nil {
		outAll, outNear = o.count, near(&o.byDep, b, -1, 1)
	}
	if u.prevRow >= 0 {
		out2 = u.out2[pair{u.prevRow, u.lastRow}]
	}
	top := &u.places[u.order[0]]
	covered := int32(0)
	f := CandidateFeatures
	for c := 0; c < n; c++ {
		row := u.order[c]
		p := &u.places[row]
		covered += p.count
		ex.Places[c] = p.id
		ex.CandidateMask[c] = 1
		x := ex.Candidates[c*f : (c+1)*f]
		x[0] = log1p(float64(p.count))
		x[1] = ratio(p.count, int32(u.visits))
		an := near(&p.arrivals, b, 0, 2)
		x[2] = log1p(float64(an))
		x[3] = ratio(an, arrNear)
		var tc, tn int32
		if t := u.trans[pair{u.lastRow, row}]; t != nil {
			tc, tn = t.count, near(&t.byDep, b, -1, 1)
		}
		x[4] = log1p(float64(tc))
		x[5] = ratio(tc, outAll)
		x[6] = log1p(float64(tn))
		x[7] = ratio(tn, outNear)
		var t2 int32
		if u.prevRow >= 0 {
			t2 = u.trans2[triple{u.prevRow, u.lastRow, row}]
		}
		x[8] = log1p(float64(t2))
		x[9] = ratio(t2, out2)
		x[10] = log1p(math.Max(0, float64(now-p.lastLeft)) / 3600)
		x[11] = b2f(row == u.lastRow)
		x[12] = b2f(row == u.prevRow)
		x[13] = log1p(haversine(cur.lat, cur.lon, p.lat, p.lon) / 1000)
		x[14] = log1p(haversine(top.lat, top.lon, p.lat, p.lon) / 1000)
		x[15] = log1p(p.stayed / float64(p.count))
		ad := nearWeek(&p.byHour, int(how), 0, 2)
		x[16] = log1p(float64(ad))
		x[17] = ratio(ad, arrDow)
		ex.Category[c] = int64(p.category)
	}
	if u.city != nil && n < K {
		u.fillPublic(ex, n, cur, top)
	}

	// History: candidate index of each recent visit.
	u.rankOf = slices.Grow(u.rankOf[:0], len(u.places))[:len(u.places)]
	for i := range u.rankOf {
		u.rankOf[i] = NotCandidate
	}
	for c := 0; c < n; c++ {
		u.rankOf[u.order[c]] = int32(c)
	}
	pad := HistoryLen - len(u.recent)
	for i := range ex.History {
		if i < pad {
			ex.History[i] = Pad
			continue
		}
		ex.History[i] = int64(u.rankOf[u.recent[i-pad]])
	}

	hod := math.Mod(how, 24)
	ex.Context[0] = log1p(math.Max(0, float64(now-u.last.Arrive)) / 3600)
	ex.Context[1] = float32(math.Sin(2 * math.Pi * hod / 24))
	ex.Context[2] = float32(math.Cos(2 * math.Pi * hod / 24))
	ex.Context[3] = b2f(how >= 120)
	ex.Context[4] = log1p(float64(u.visits))
	ex.Context[5] = log1p(float64(len(u.places)))
	ex.Context[6] = ratio(covered, int32(u.visits))
	return true
}

// rank orders the places by visit count (ties: left most recently first,
// then lower id) into u.order and returns how many are candidates.
func (u *User) rank() int {
	u.order = u.order[:0]
	for i := range u.places {
		u.order = append(u.order, int32(i))
	}
	slices.SortFunc(u.order, func(a, b int32) int {
		pa, pb := &u.places[a], &u.places[b]
		switch {
		case pa.count != pb.count:
			return int(pb.count - pa.count)
		case pa.lastLeft != pb.lastLeft:
			if pa.lastLeft > pb.lastLeft {
				return -1
			}
			return 1
		case pa.id < pb.id:
			return -1
		case pa.id > pb.id:
			return 1
		}
		return 0
	})
	return min(K, len(u.order))
}

func log1p(x float64) float32 { return float32(math.Log1p(x)) }

func ratio(a, b int32) float32 {
	if b <= 0 {
		return 0
	}
	return float32(a) / float32(b)
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// Markov scores the candidates of ex, just extracted, with a first-order
// Markov chain over the user's whole history — the same estimator as
// package eval's Markov baseline, which sees only the last L visits:
//
//	p_c = (T_uc + q_c) / (Σ_j T_uj + 1),  q_c = (n_c + ½) / (Σ_j n_j + K/2)
//
// with T the transition counts from the current place u to the candidates
// and n the candidates' visit counts. Padding candidates score q_c with n_c = 0.
func (u *User) Markov(ex *NextDestination, out []float32) {
	var n, t [K]float64
	var total, tsum float64
	for c := 0; c < K; c++ {
		if ex.CandidateMask[c] == 0 {
			continue
		}
		row, own := u.index[ex.Places[c]]
		if !own {
			continue // a public (cold-start) candidate: no visits, no moves
		}
		n[c] = float64(u.places[row].count)
		if tr := u.trans[pair{u.lastRow, row}]; tr != nil {
			t[c] = float64(tr.count)
		}
		total += n[c]
		tsum += t[c]
	}
	for c := 0; c < K; c++ {
		q := (n[c] + 0.5) / (total + K/2.0)
		out[c] = float32((t[c] + q) / (tsum + 1))
	}
}
