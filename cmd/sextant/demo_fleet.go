package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/eval"
	"github.com/sextant-ml/sextant/sim"
	"github.com/sextant-ml/sextant/tensor"
)

// Model names the demo publishes under.
const (
	ndModel        = "next-destination"
	etaModel       = "eta"
	etaServerModel = "eta-server"
)

// userRows holds, for each device, the row indices of its own user in a
// table (device i is the i-th user id in ascending order).
type userRows [][]int

// groupByUser splits d's rows by user_id into devices groups.
func groupByUser(d *dataset.Dataset, devices int) (userRows, error) {
	col, ok := d.Column("user_id")
	if !ok {
		return nil, fmt.Errorf("table has no user_id column")
	}
	byID := map[int64][]int{}
	for i := 0; i < col.Shape[0]; i++ {
		id := int64(col.Float64At(i))
		byID[id] = append(byID[id], i)
	}
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rows := make(userRows, devices)
	for i := 0; i < devices && i < len(ids); i++ {
		rows[i] = byID[ids[i]]
	}
	return rows, nil
}

// feedsFor returns example row of d as batch-1 inputs for the model's
// signature inputs, converted to the dtypes the signature declares.
func feedsFor(d *dataset.Dataset, sig []bundle.Input, row int) (map[string]*tensor.Tensor, error) {
	in := make(map[string]*tensor.Tensor, len(sig))
	for _, s := range sig {
		col, ok := d.Column(s.Name)
		if !ok {
			return nil, fmt.Errorf("data has no column %q", s.Name)
		}
		t := dataset.Rows(col, row, row+1)
		if t.DType.String() != s.DType {
			dt, err := tensor.ParseDType(s.DType)
			if err != nil {
				return nil, err
			}
			if t, err = dataset.Convert(t, dt); err != nil {
				return nil, err
			}
		}
		in[s.Name] = t
	}
	return in, nil
}

// serveStats accumulates one version's serving measurements across devices.
type serveStats struct {
	mu         sync.Mutex
	s          demoServe
	hits, n    int
	absErr     float64
	dev, srv   []float64
	firstError error
}

func (st *serveStats) add(res router.Result, dev time.Duration, hit bool, absErr float64, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil {
		st.s.Failures++
		if st.firstError == nil {
			st.firstError = err
		}
		return
	}
	st.s.Requests++
	st.s.Sources[string(res.Source)]++
	ms := float64(res.Latency) / float64(time.Millisecond)
	if res.Source == router.SourceDevice {
		st.dev = append(st.dev, float64(dev)/float64(time.Millisecond))
	} else {
		st.srv = append(st.srv, ms)
	}
	st.n++
	if hit {
		st.hits++
	}
	st.absErr += absErr
}

func (st *serveStats) done() demoServe {
	s := st.s
	sort.Float64s(st.dev)
	sort.Float64s(st.srv)
	s.DeviceP50, s.DeviceP95 = pct(st.dev, 0.5), pct(st.dev, 0.95)
	s.ServerP50, s.ServerP95 = pct(st.srv, 0.5), pct(st.srv, 0.95)
	s.DeviceLatencies, s.ServerLatencies = thin(st.dev, 2000), thin(st.srv, 2000)
	if st.n > 0 {
		if s.Model == ndModel {
			s.Acc1 = float64(st.hits) / float64(st.n)
		} else {
			s.MAE = st.absErr / float64(st.n)
		}
	}
	return s
}

// pct is eval's q-quantile of xs, 0 when there are none (JSON has no NaN).
func pct(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return eval.Quantile(xs, q)
}

// thin keeps at most n evenly spaced samples of sorted xs, for the plots.
func thin(xs []float64, n int) []float64 {
	if len(xs) <= n {
		return xs
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = xs[i*len(xs)/n]
	}
	return out
}

// argmax is the index of the largest of the first n values of t.
func argmax(t *tensor.Tensor) int {
	best, bi := math.Inf(-1), 0
	for i := 0; i < t.Len(); i++ {
		if v := t.Float64At(i); v > best {
			best, bi = v, i
		}
	}
	return bi
}

// versionMix counts the fleet's installed versions of model.
func versionMix(f *sim.Fleet, model, at string) demoMix {
	m := demoMix{At: at, Model: model, Versions: map[string]int{}}
	for _, d := range f.Devices() {
		v := d.Version(model)
		if v == "" {
			v = "none"
		}
		m.Versions[v]++
	}
	return m
}
