package features

import "math"

// RoadClasses name the road classes of a route's class mix, in order (the
// mobility simulator's classes).
var RoadClasses = []string{"motorway", "trunk", "primary", "secondary", "tertiary", "residential", "service"}

// Route is what the ETA models know about a planned drive.
type Route struct {
	LengthM   float64 // metres along the route
	FreeFlowS float64 // seconds at free-flow speeds
	Turns     int     // heading changes
	Edges     int     // road segments
	// ClassShare is the share of the length on each of RoadClasses.
	ClassShare [7]float64
	Depart     int64 // Unix seconds
}

// hourCenters are the RBF centres of the time-of-day encoding: every hour,
// σ = 0.75 h, so a smooth congestion curve is a linear read-out.
const (
	hourCenters = 24
	hourSigma   = 0.75
)

// RouteFeatureNames name the `route` input's features, in order.
var RouteFeatureNames = func() []string {
	names := []string{"log_km", "log_free_flow_min", "log_turns", "log_edges", "turns_per_min"}
	for _, c := range RoadClasses {
		names = append(names, "share_"+c)
	}
	for h := 0; h < hourCenters; h++ {
		names = append(names, "hour_rbf_"+itoa(h))
	}
	return append(names, "weekday", "friday", "weekend")
}()

// RouteFeatures is D, the width of the `route` input.
var RouteFeatures = len(RouteFeatureNames)

// Features writes r's features at UTC offset offset (seconds) into out
// (len ≥ RouteFeatures).
func (r *Route) Features(offset int, out []float32) {
	ffMin := math.Max(r.FreeFlowS, 1) / 60
	out[0] = log1p(r.LengthM / 1000)
	out[1] = float32(math.Log(ffMin))
	out[2] = log1p(float64(r.Turns))
	out[3] = log1p(float64(r.Edges))
	out[4] = float32(float64(r.Turns) / ffMin)
	i := 5
	for _, s := range r.ClassShare {
		out[i] = float32(s)
		i++
	}
	how := HourOfWeek(r.Depart, offset)
	hod := math.Mod(how, 24)
	for h := 0; h < hourCenters; h++ {
		d := math.Abs(hod - float64(h))
		d = math.Min(d, 24-d)
		out[i] = float32(math.Exp(-d * d / (2 * hourSigma * hourSigma)))
		i++
	}
	day := int(how / 24)
	out[i] = b2f(day < 5)
	out[i+1] = b2f(day == 4)
	out[i+2] = b2f(day >= 5)
}

// LogRatio is the ETA models' training target: ln(travel / free-flow).
func LogRatio(travelS, freeFlowS float64) float64 {
	return math.Log(math.Max(travelS, 1) / math.Max(freeFlowS, 1))
}

func itoa(v int) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return itoa(v/10) + string(rune('0'+v%10))
}
