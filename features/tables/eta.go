package tables

import (
	"context"
	"path/filepath"
	"slices"

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
	first, last, err := timeRange(trips, "depart", func(t *mdata.TripRow) int64 { return t.Depart })
	if err != nil {
		return st, err
	}
	if st.Boundary, err = boundary(first, last, cfg.HoldoutWeeks); err != nil {
		return st, err
	}
	sp, err := createSplits[etaRow](out)
	if err != nil {
		return st, err
	}
	newWorker := func() func([]mdata.TripRow) (etaChunk, error) {
		return (&etaWorker{boundary: st.Boundary}).chunk
	}
	err = chunks(context.Background(), trips, cfg.Workers, chunkSize(cfg.ChunkRows), func(t *mdata.TripRow) int64 { return t.UserID },
		func(t *mdata.TripRow) mdata.TripRow { return *t }, newWorker,
		func(c etaChunk) error {
			if err := sp.commit(c.train, c.test); err != nil {
				return err
			}
			st.add(c.st)
			return nil
		})
	return st, sp.close(err)
}

// etaRow is an ETA row, columns in name order.
type etaRow struct {
	ExpectedS  float32   `parquet:"expected_s"`
	FreeFlowS  float32   `parquet:"free_flow_s"`
	HourOfWeek int64     `parquet:"hour_of_week"`
	LogRatio   float32   `parquet:"log_ratio"`
	Route      []float32 `parquet:"route,list"`
	TravelS    float32   `parquet:"travel_s"`
	UserID     int64     `parquet:"user_id"`
}

// etaChunk is a chunk's output: its encoded parts and counts.
type etaChunk struct {
	train, test []byte
	st          Stats
}

// etaWorker computes ETA chunks; each worker goroutine has its own.
type etaWorker struct {
	boundary int64
	parts    chunkParts[etaRow]
}

// chunk computes the examples of a chunk of whole users' trips.
func (w *etaWorker) chunk(trips []mdata.TripRow) (etaChunk, error) {
	var c etaChunk
	w.parts.begin()
	st := &c.st
	for i := range trips {
		t := &trips[i]
		if i == 0 || t.UserID != trips[i-1].UserID {
			st.Users++
		}
		r := features.Route{
			LengthM: float64(t.LengthM), FreeFlowS: float64(t.FreeFlowS), Turns: int(t.Turns), Edges: int(t.Edges),
			ClassShare: [7]float64{float64(t.FracMotorway), float64(t.FracTrunk), float64(t.FracPrimary),
				float64(t.FracSecondary), float64(t.FracTertiary), float64(t.FracResid), float64(t.FracService)},
			Depart: t.Depart,
		}
		p := &w.parts.train
		if t.Depart >= w.boundary {
			p, st.Test = &w.parts.test, st.Test+1
		} else {
			st.Train++
		}
		row := p.row()
		row.Route = slices.Grow(row.Route[:0], features.RouteFeatures)[:features.RouteFeatures]
		r.Features(0, row.Route)
		row.FreeFlowS = t.FreeFlowS
		row.LogRatio = float32(features.LogRatio(float64(t.TravelS), float64(t.FreeFlowS)))
		row.TravelS = t.TravelS
		row.ExpectedS = t.ExpectedS
		row.HourOfWeek = int64(t.HourOfWeek)
		row.UserID = t.UserID
		if err := p.endRow(); err != nil {
			return c, err
		}
	}
	var err error
	c.train, c.test, err = w.parts.end()
	return c, err
}
