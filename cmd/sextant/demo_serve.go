package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/sim"
)

// servingData is the held-out week of every device's own user: the
// next-destination examples it predicts and the trips it asks ETAs for.
type servingData struct {
	nd, eta         *dataset.Dataset
	ndRows, etaRows userRows
}

func (s *story) loadServingData(devices int) (*servingData, error) {
	var sd servingData
	var err error
	if sd.nd, err = dataset.Read(s.path("data", "nd", "test.parquet")); err != nil {
		return nil, err
	}
	if sd.eta, err = dataset.Read(s.path("data", "eta", "test.parquet")); err != nil {
		return nil, err
	}
	if sd.ndRows, err = groupByUser(sd.nd, devices); err != nil {
		return nil, err
	}
	if sd.etaRows, err = groupByUser(sd.eta, devices); err != nil {
		return nil, err
	}
	return &sd, nil
}

// serve has every device in idx answer up to per requests of each model
// with its installed version: next destination on device only (all its
// inputs are private), ETA through the hybrid router (device or server).
// It returns the measurements per model and version.
func (s *story) serve(ctx context.Context, f *sim.Fleet, sd *servingData, idx []int, per int, label string) ([]demoServe, error) {
	stats := map[string]*serveStats{}
	get := func(model, version string) *serveStats {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := model + "@" + version
		if stats[k] == nil {
			stats[k] = &serveStats{s: demoServe{Label: fmt.Sprintf("%s %s v%s", label, model, version), Model: model, Version: version,
				Sources: map[string]int{}}}
		}
		return stats[k]
	}
	err := f.Each(ctx, "serve "+label, idx, func(d *sim.Device) error {
		speed := d.Profile().SpeedFactor
		if rows := sd.ndRows[d.Index()]; len(rows) > 0 && d.Version(ndModel) != "" {
			st := get(ndModel, d.Version(ndModel))
			inst, err := d.Load(ndModel, router.OnDevice)
			if err != nil {
				st.add(router.Result{}, 0, false, 0, err)
				return nil
			}
			defer inst.Bundle.Close()
			r := d.Router(f, router.Config{})
			if err := r.Register(ndModel, inst.Model); err != nil {
				return err
			}
			labels, _ := sd.nd.Column("label")
			for _, row := range rows[:min(per, len(rows))] {
				in, err := feedsFor(sd.nd, inst.Model.Manifest.Signature.Inputs, row)
				if err != nil {
					return err
				}
				res, err := r.Predict(ctx, ndModel, in)
				if err == nil && res.Source != router.SourceDevice {
					err = fmt.Errorf("next destination answered by %s under the on-device policy", res.Source)
				}
				var hit bool
				if err == nil {
					hit = argmax(res.Outputs["logits"]) == int(labels.Float64At(row))
				}
				st.add(res, time.Duration(float64(res.Latency)*speed), hit, 0, err)
			}
		}
		if rows := sd.etaRows[d.Index()]; len(rows) > 0 && d.Version(etaModel) != "" {
			st := get(etaModel, d.Version(etaModel))
			inst, err := d.Load(etaModel, router.LatencyAware)
			if err != nil {
				st.add(router.Result{}, 0, false, 0, err)
				return nil
			}
			defer inst.Bundle.Close()
			r := d.Router(f, router.Config{})
			if err := r.Register(etaModel, inst.Model); err != nil {
				return err
			}
			travel, _ := sd.eta.Column("travel_s")
			for _, row := range rows[:min(per, len(rows))] {
				in, err := feedsFor(sd.eta, inst.Model.Manifest.Signature.Inputs, row)
				if err != nil {
					return err
				}
				res, err := r.Predict(ctx, etaModel, in)
				var ae float64
				if err == nil {
					ae = math.Abs(res.Outputs["eta_s"].Float64At(0) - travel.Float64At(row))
				}
				st.add(res, time.Duration(float64(res.Latency)*speed), false, ae, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []demoServe
	for _, k := range slices.Sorted(maps.Keys(stats)) {
		st := stats[k]
		if st.s.Requests == 0 && st.firstError != nil {
			return nil, fmt.Errorf("every %s request failed: %w", st.s.Label, st.firstError)
		}
		out = append(out, st.done())
	}
	return out, nil
}
