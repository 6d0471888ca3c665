package mobility

import (
	"math"
)

// Traffic is the travel-time model: free-flow time per road class, scaled by
// how drivers really drive that class (signals, merging) and by time-of-week
// congestion, plus a delay per turn; then a per-driver factor and per-trip
// noise, both log-normal with median 1. Expected returns the conditional
// median of the travel time given the route features and the departure
// time, which is the best any model that sees only those can do under
// absolute error: the ETA noise floor.
type Traffic struct {
	// Slowdown is the free-flow factor per class (real speeds below posted).
	Slowdown [NumRoadClasses]float64
	// PeakSensitivity is how much of the congestion profile a class feels.
	PeakSensitivity [NumRoadClasses]float64
	// TurnDelay is the seconds lost per turn at free flow.
	TurnDelay float64
	// DriverSigma and TripSigma are the log-normal σ of the per-driver
	// factor and of the per-trip noise.
	DriverSigma, TripSigma float64
}

// DefaultTraffic is the model the generator uses; the values are our own
// assumptions, chosen so the free-flow estimate is clearly biased by class,
// hour and turns (something for an ETA model to learn) while the noise
// floor stays near 10% of the travel time.
func DefaultTraffic() Traffic {
	return Traffic{
		Slowdown:        [NumRoadClasses]float64{1.05, 1.10, 1.25, 1.20, 1.15, 1.10, 1.30},
		PeakSensitivity: [NumRoadClasses]float64{0.70, 0.60, 0.55, 0.45, 0.30, 0.10, 0.05},
		TurnDelay:       6,
		DriverSigma:     0.08,
		TripSigma:       0.12,
	}
}

// Congestion is the time-of-week congestion profile in [0, 1] at hour-of-
// week h (0 = Monday 00:00, fractional): weekday morning and evening peaks,
// a midday shoulder, and a broad weekend afternoon bump.
func Congestion(h float64) float64 {
	h = math.Mod(h, 168)
	if h < 0 {
		h += 168
	}
	day := int(h / 24)
	t := h - float64(day)*24
	bump := func(center, width, amp float64) float64 {
		z := (t - center) / width
		return amp * math.Exp(-z*z/2)
	}
	if day >= 5 {
		return bump(13.5, 3, 0.35)
	}
	v := bump(8, 1, 1) + bump(17.5, 1.25, 1) + bump(12.5, 2.5, 0.3)
	if day == 4 { // Friday evenings start earlier
		v += bump(15.5, 1, 0.3)
	}
	return math.Min(1, v)
}

// Expected is the conditional median travel time in seconds of a route
// departing at hour-of-week h.
func (m *Traffic) Expected(f *RouteFeatures, h float64) float64 {
	c := Congestion(h)
	var t float64
	for k := 0; k < NumRoadClasses; k++ {
		t += f.FreeFlow * f.ClassTime[k] * m.Slowdown[k] * (1 + m.PeakSensitivity[k]*c)
	}
	return t + float64(f.Turns)*m.TurnDelay*(1+0.5*c)
}
