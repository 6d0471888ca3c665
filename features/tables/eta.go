package tables

import (
	"path/filepath"

	"github.com/sextant-ml/sextant/features"
	mdata "github.com/sextant-ml/sextant/mobility/dataset"
)

// ETA writes the ETA tables of the data set in dir to out/train.parquet
// and out/test.parquet: one example per trip, the route features, the
// free-flow time (the baseline and the models' scale), the target
// log_ratio = ln(travel_s / free_flow_s), and travel_s and expected_s (the
// noise floor) for evaluation. Route features are not personal, so Donors
// does not apply.
func ETA(dir, out string, cfg Config) (Stats, error) {
	var st Stats
	trips := filepath.Join(dir, mdata.TripsFile)
	first, last := int64(1<<62), int64(-1<<62)
	err := readAll(trips, func(t *mdata.TripRow) error {
		first, last = min(first, t.Depart), max(last, t.Depart)
		return nil
	})
	if err != nil {
		return st, err
	}
	if st.Boundary, err = boundary(first, last, cfg.HoldoutWeeks); err != nil {
		return st, err
	}
	train, test := newTable(), newTable()
	if err := streamSplits(out, train, test); err != nil {
		return st, err
	}
	row := make([]float32, features.RouteFeatures)
	cur := int64(-1)
	err = readAll(trips, func(t *mdata.TripRow) error {
		if t.UserID != cur {
			cur = t.UserID
			st.Users++
		}
		r := features.Route{
			LengthM: float64(t.LengthM), FreeFlowS: float64(t.FreeFlowS), Turns: int(t.Turns), Edges: int(t.Edges),
			ClassShare: [7]float64{float64(t.FracMotorway), float64(t.FracTrunk), float64(t.FracPrimary),
				float64(t.FracSecondary), float64(t.FracTertiary), float64(t.FracResid), float64(t.FracService)},
			Depart: t.Depart,
		}
		r.Features(0, row)
		tb := train
		if t.Depart >= st.Boundary {
			tb, st.Test = test, st.Test+1
		} else {
			st.Train++
		}
		tb.floats("route", row...)
		tb.floats("free_flow_s", t.FreeFlowS)
		tb.floats("log_ratio", float32(features.LogRatio(float64(t.TravelS), float64(t.FreeFlowS))))
		tb.floats("travel_s", t.TravelS)
		tb.floats("expected_s", t.ExpectedS)
		tb.ints("hour_of_week", int64(t.HourOfWeek))
		tb.ints("user_id", t.UserID)
		return tb.endRow()
	})
	if err != nil {
		return st, err
	}
	return st, writeSplits(out, train, test)
}
