package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/sim"
)

// servingData is the held-out week of every device's own user: the
// next-destination examples it predicts and the trips it asks ETAs for,
// read from the tables only while the device serves.
type servingData struct {
	nd, eta *userTable
}

func (s *story) loadServingData(devices int) (*servingData, error) {
	var sd servingData
	var err error
	// A device reads the columns its installed version's signature
	// names, so every column of the table (nil) may be needed.
	if sd.nd, err = openUserTable(s.path("data", "nd", "test.parquet"), nil, devices); err != nil {
		return nil, err
	}
	if sd.eta, err = openUserTable(s.path("data", "eta", "test.parquet"), nil, devices); err != nil {
		sd.nd.close()
		return nil, err
	}
	return &sd, nil
}

// close closes the tables.
func (sd *servingData) close() {
	sd.nd.close()
	sd.eta.close()
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
		rec := d.Health()
		if sd.nd.rows(d.Index()) > 0 && per > 0 && d.Version(ndModel) != "" {
			v := d.Version(ndModel)
			st := get(ndModel, v)
			inst, err := d.Load(ndModel, router.OnDevice)
			rec.Load(ndModel, v, err != nil)
			if err != nil {
				st.add(router.Result{}, 0, false, 0, err)
				return nil
			}
			rec.Session(ndModel, v, false)
			defer inst.Bundle.Close()
			r := d.Router(f, router.Config{})
			if err := r.Register(ndModel, inst.Model); err != nil {
				return err
			}
			nd, err := sd.nd.read(d.Index(), per)
			if err != nil {
				return err
			}
			labels, _ := nd.Column("label")
			for row := range nd.N {
				in, err := feedsFor(nd, inst.Model.Manifest.Signature.Inputs, row)
				if err != nil {
					return err
				}
				res, err := r.Predict(ctx, ndModel, in)
				if err == nil && res.Source != router.SourceDevice {
					err = fmt.Errorf("next destination answered by %s under the on-device policy", res.Source)
				}
				var hit bool
				lat := time.Duration(float64(res.Latency) * speed)
				rec.Inference(ndModel, v, lat, err != nil)
				if err == nil {
					// The user's next place becomes known on device: the
					// outcome feeds the quality stream of the health report.
					hit = argmax(res.Outputs["logits"]) == int(labels.Float64At(row))
					rec.Outcome(ndModel, v, hit)
				}
				st.add(res, lat, hit, 0, err)
			}
		}
		if sd.eta.rows(d.Index()) > 0 && per > 0 && d.Version(etaModel) != "" {
			v := d.Version(etaModel)
			st := get(etaModel, v)
			// The calibrated cascade: answer on device unless the deferral
			// head says the server model would change the answer much.
			inst, err := d.Load(etaModel, router.Cascade)
			rec.Load(etaModel, v, err != nil)
			if err != nil {
				st.add(router.Result{}, 0, false, 0, err)
				return nil
			}
			rec.Session(etaModel, v, false)
			defer inst.Bundle.Close()
			r := d.Router(f, router.Config{})
			if err := r.Register(etaModel, inst.Model); err != nil {
				return err
			}
			eta, err := sd.eta.read(d.Index(), per)
			if err != nil {
				return err
			}
			travel, _ := eta.Column("travel_s")
			for row := range eta.N {
				in, err := feedsFor(eta, inst.Model.Manifest.Signature.Inputs, row)
				if err != nil {
					return err
				}
				res, err := r.Predict(ctx, etaModel, in)
				var ae float64
				lat := time.Duration(float64(res.Latency) * speed)
				if err == nil {
					ae = math.Abs(res.Outputs["eta_s"].Float64At(0) - travel.Float64At(row))
					if res.Source != router.SourceDevice {
						lat = res.Latency
					}
				}
				rec.Inference(etaModel, v, lat, err != nil)
				st.add(res, lat, false, ae, err)
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
