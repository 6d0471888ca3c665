package main

import (
	"cmp"
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

// userTable reads one device's own rows of a feature table when the
// device needs them, not the whole table up front: the table is in user
// order, so an index built in one pass over user_id gives each user's row
// range, and only that range of the needed columns is decoded. Device i
// is the i-th user id in ascending order.
type userTable struct {
	file   *dataset.ParquetFile
	cols   []string
	groups *dataset.Groups
	byDev  []int // device index → group index, -1 for a device without rows
}

// openUserTable indexes the table at path by user_id for devices devices;
// reads return columns cols.
func openUserTable(path string, cols []string, devices int) (*userTable, error) {
	file, err := dataset.OpenParquet(path)
	if err != nil {
		return nil, err
	}
	g, err := file.Index("user_id")
	if err != nil {
		file.Close()
		return nil, err
	}
	order := make([]int, len(g.Keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(g.Keys[a], g.Keys[b]) })
	byDev := make([]int, devices)
	for i := range byDev {
		byDev[i] = -1
		if i < len(order) {
			byDev[i] = order[i]
		}
	}
	return &userTable{file: file, cols: cols, groups: g, byDev: byDev}, nil
}

// close closes the table's file.
func (u *userTable) close() error { return u.file.Close() }

// rows returns device i's number of rows in the table.
func (u *userTable) rows(i int) int {
	if u.byDev[i] < 0 {
		return 0
	}
	lo, hi := u.groups.Range(u.byDev[i])
	return int(hi - lo)
}

// read reads device i's first (at most) limit rows, or all of them when
// limit < 0; nil when the device has none.
func (u *userTable) read(i, limit int) (*dataset.Dataset, error) {
	if u.byDev[i] < 0 {
		return nil, nil
	}
	lo, hi := u.groups.Range(u.byDev[i])
	if limit >= 0 {
		hi = min(hi, lo+int64(limit))
	}
	if hi == lo {
		return nil, nil
	}
	return u.file.ReadRows(u.cols, lo, hi)
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
