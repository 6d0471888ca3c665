package server

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/server/console"
)

// fleet remembers what each device reported installed at its latest
// check-in, for the version mix (GET /v1/admin/fleet and the console).
// It is in memory: it covers the devices that checked in since the server
// started, at most max of them (when full, an arbitrary device is
// forgotten; it returns at its next check-in).
type fleet struct {
	max int
	// mu guards m.
	mu sync.Mutex
	m  map[string]map[string]string // device → model → version
	// inferences counts successful server inferences.
	inferences atomic.Int64
}

func newFleet(max int) *fleet {
	if max <= 0 {
		max = 100_000
	}
	return &fleet{max: max, m: map[string]map[string]string{}}
}

// observe records a check-in's installed versions; an unchanged device
// costs a map comparison, no allocation.
func (f *fleet) observe(device string, installed map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	have, ok := f.m[device]
	if ok && maps.Equal(have, installed) {
		return
	}
	cp := maps.Clone(installed)
	if cp == nil {
		cp = map[string]string{}
	}
	if !ok && len(f.m) >= f.max {
		for k := range f.m {
			delete(f.m, k)
			break
		}
	}
	f.m[device] = cp
}

// mix counts devices per model and version; a device that has checked in
// without a model installed counts under "" for each model some device
// runs.
func (f *fleet) mix() (int, []console.ModelMix) {
	f.mu.Lock()
	counts := map[string]map[string]int{}
	for _, inst := range f.m {
		for model, v := range inst {
			if counts[model] == nil {
				counts[model] = map[string]int{}
			}
			counts[model][v]++
		}
	}
	n := len(f.m)
	for _, inst := range f.m {
		for model := range counts {
			if _, ok := inst[model]; !ok {
				counts[model][""]++
			}
		}
	}
	f.mu.Unlock()
	out := make([]console.ModelMix, 0, len(counts))
	for model, vs := range counts {
		mm := console.ModelMix{Model: model}
		for v, c := range vs {
			mm.Versions = append(mm.Versions, console.VersionCount{Version: v, Devices: c})
		}
		slices.SortFunc(mm.Versions, func(a, b console.VersionCount) int { return compareVersions(a.Version, b.Version) })
		out = append(out, mm)
	}
	slices.SortFunc(out, func(a, b console.ModelMix) int { return strings.Compare(a.Model, b.Model) })
	return n, out
}

// compareVersions orders semver versions by precedence ("" and
// unparsable ones first, by text).
func compareVersions(a, b string) int {
	av, aerr := bundle.ParseVersion(a)
	bv, berr := bundle.ParseVersion(b)
	switch {
	case aerr == nil && berr == nil:
		if c := av.Compare(bv); c != 0 {
			return c
		}
	case aerr == nil:
		return 1
	case berr == nil:
		return -1
	}
	return strings.Compare(a, b)
}

// fleetView is GET /v1/admin/fleet's answer (and the console's).
func (s *Server) fleetView() (console.Fleet, error) {
	n, models := s.fleet.mix()
	f := console.Fleet{Devices: n, Models: models, ServerInferences: s.fleet.inferences.Load()}
	if _, ok := s.telemetry.streams[console.InferenceStream]; ok {
		est, err := s.estimates(console.InferenceStream, []map[string]any{
			{console.InferenceField: "device"}, {console.InferenceField: "server"}})
		if err != nil {
			// A stream of that name without the field: no share to show.
			s.log.Warn("telemetry stream "+console.InferenceStream+" cannot be read as the inference split", "err", err)
			return f, nil
		}
		in := &console.InferenceShare{Stream: est.Stream, Reports: est.Reports}
		for _, e := range est.Estimates {
			switch e.Values[console.InferenceField] {
			case "device":
				in.Device += e.Estimate
			case "server":
				in.Server += e.Estimate
			}
		}
		if t := in.Device + in.Server; t > 0 {
			in.DeviceShare = in.Device / t
		}
		f.Inference = in
	}
	return f, nil
}

func (s *Server) getFleet(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := s.fleetView()
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, f)
	return nil
}
