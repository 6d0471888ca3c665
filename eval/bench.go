package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"

	"github.com/sextant-ml/sextant/internal/cputime"
)

// BenchConfig says how to measure the candidate's cost.
type BenchConfig struct {
	// Iterations is the number of timed single-example inferences; 0
	// means 200.
	Iterations int
	// Warmup runs are not timed; 0 means 20.
	Warmup int
	// Output names the scores output (as for NewModelPredictor).
	Output string
}

// LatencyStats summarizes measured latencies in microseconds.
type LatencyStats struct {
	Mean Num `json:"mean"`
	P50  Num `json:"p50"`
	P95  Num `json:"p95"`
	P99  Num `json:"p99"`
	Max  Num `json:"max"`
}

// Histogram counts latencies in equal-width bins from Edges[i] to
// Edges[i+1] microseconds.
type Histogram struct {
	Edges  []float64 `json:"edges_us"`
	Counts []int     `json:"counts"`
}

// ProfileResult is the candidate's cost under one device profile. Latency
// is measured on this machine, one example per inference (batch 1, as on a
// device), with GOMAXPROCS set to the profile's cores; the device estimate
// scales it by the profile's speed factor. CPU time is the process's
// user+system time over the timed runs divided by their number (GC
// included); energy is Profile.InferenceEnergy of that CPU time scaled by
// the speed factor and of the model's weight bytes (every weight streamed
// once per inference).
type ProfileResult struct {
	Profile     string  `json:"profile"`
	Cores       int     `json:"cores"`
	SpeedFactor float64 `json:"speed_factor"`
	Iterations  int     `json:"iterations"`
	// ArenaBytes is the engine arena the session planned at batch 1;
	// ArenaBudget is the profile's bound (engine.Options.MaxArenaBytes).
	ArenaBytes  int64 `json:"arena_bytes"`
	ArenaBudget int64 `json:"arena_budget_bytes"`
	// WeightBytes is the size of the graph's initializers.
	WeightBytes int64 `json:"weight_bytes"`
	// Latency is measured on this machine.
	Latency LatencyStats `json:"latency_us"`
	// DeviceP95 is Latency.P95 × SpeedFactor; LatencyBudget the profile's
	// p95 bound.
	DeviceP95     Num `json:"device_p95_us"`
	LatencyBudget Num `json:"latency_budget_us"`
	// CPUPerInference is measured on this machine.
	CPUPerInference Num `json:"cpu_us_per_inference"`
	// Energy is the estimate on the device; EnergyBudget 0 means none.
	Energy       Num `json:"energy_joules"`
	EnergyBudget Num `json:"energy_budget_joules"`
	// Histogram is of the measured latencies.
	Histogram Histogram `json:"histogram"`
	// WithinBudget is true when arena, device p95 and energy are within
	// the profile's budgets; Violations says which are not.
	WithinBudget bool     `json:"within_budget"`
	Violations   []string `json:"violations,omitempty"`
	// Error is set when the model could not run under the profile (e.g.
	// its arena exceeds the budget); the measurements are then empty.
	Error string `json:"error,omitempty"`
}

// MeasureProfile compiles g under p's budgets — taking ownership of g, as
// engine.Compile does, so pass a fresh copy per profile — and times
// single-example inferences cycling over d's examples. Failures to
// fit the profile are reported in the result, not as errors; errors are for
// broken inputs.
func MeasureProfile(ctx context.Context, g *graph.Graph, d *dataset.Dataset, p *profile.Profile, cfg BenchConfig) (ProfileResult, error) {
	if cfg.Iterations <= 0 {
		cfg.Iterations = 200
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = 20
	}
	res := ProfileResult{
		Profile: p.Name, Cores: p.Cores, SpeedFactor: p.SpeedFactor, Iterations: cfg.Iterations,
		ArenaBudget: p.ArenaBytes, LatencyBudget: Num(float64(time.Duration(p.Latency)) / 1e3),
		EnergyBudget: Num(p.EnergyBudgetJoules),
	}
	for _, v := range g.Initializers {
		if v.Const != nil {
			res.WeightBytes += int64(len(v.Const.Raw))
		}
	}
	prev := runtime.GOMAXPROCS(p.Cores)
	defer runtime.GOMAXPROCS(prev)
	m, err := engine.Compile(g, engine.Options{MaxArenaBytes: p.ArenaBytes, Dims: map[string]int{"batch": 1}})
	if err != nil {
		return res.failed(err)
	}
	mp, err := NewModelPredictor(p.Name, m, d, cfg.Output)
	if err != nil {
		return res, err
	}
	step := max(mp.fixed, 1)
	inputs := func(i int) []*tensor.Tensor {
		i %= d.N
		ins := make([]*tensor.Tensor, len(mp.cols))
		for j, c := range mp.cols {
			if i+step <= d.N {
				ins[j] = dataset.Rows(c, i, i+step)
			} else {
				ins[j] = dataset.PadRows(c, i, d.N, step)
			}
		}
		return ins
	}
	for i := range cfg.Warmup {
		if _, err := mp.sess.Run(ctx, inputs(i)); err != nil {
			return res.failed(err)
		}
	}
	lat := make([]float64, cfg.Iterations)
	prepared := make([][]*tensor.Tensor, cfg.Iterations)
	for i := range prepared {
		prepared[i] = inputs(i)
	}
	cpu0, cpuOK := cputime.Process()
	wall0 := time.Now()
	for i := range cfg.Iterations {
		t0 := time.Now()
		if _, err := mp.sess.Run(ctx, prepared[i]); err != nil {
			return res.failed(err)
		}
		lat[i] = float64(time.Since(t0).Nanoseconds()) / 1e3
	}
	cpu := time.Since(wall0)
	if cpu1, ok := cputime.Process(); cpuOK && ok {
		cpu = cpu1 - cpu0
	}
	perInf := cpu / time.Duration(cfg.Iterations)
	res.CPUPerInference = Num(float64(perInf.Nanoseconds()) / 1e3)
	res.ArenaBytes = int64(mp.sess.ArenaBytes())
	res.Latency = latencyStats(lat)
	res.Histogram = histogram(lat, 20)
	res.DeviceP95 = res.Latency.P95 * Num(p.SpeedFactor)
	res.Energy = Num(p.InferenceEnergy(time.Duration(float64(perInf)*p.SpeedFactor), res.WeightBytes))
	res.checkBudgets()
	return res, nil
}

// failed records an error that keeps the model from running under the
// profile; a broken arena budget is such a failure, anything else an error.
func (r ProfileResult) failed(err error) (ProfileResult, error) {
	var ab *engine.ArenaBudgetError
	if errors.As(err, &ab) {
		r.ArenaBytes = ab.Planned
		r.Error = err.Error()
		r.Violations = []string{fmt.Sprintf("arena %d B > budget %d B", ab.Planned, ab.Budget)}
		return r, nil
	}
	return r, fmt.Errorf("eval: profile %s: %w", r.Profile, err)
}

func (r *ProfileResult) checkBudgets() {
	if r.ArenaBudget > 0 && r.ArenaBytes > r.ArenaBudget {
		r.Violations = append(r.Violations, fmt.Sprintf("arena %d B > budget %d B", r.ArenaBytes, r.ArenaBudget))
	}
	if r.LatencyBudget > 0 && r.DeviceP95 > r.LatencyBudget {
		r.Violations = append(r.Violations, fmt.Sprintf("device p95 %.1f µs > budget %.1f µs", float64(r.DeviceP95), float64(r.LatencyBudget)))
	}
	if r.EnergyBudget > 0 && r.Energy > r.EnergyBudget {
		r.Violations = append(r.Violations, fmt.Sprintf("energy %.3g J > budget %.3g J", float64(r.Energy), float64(r.EnergyBudget)))
	}
	r.WithinBudget = len(r.Violations) == 0
}

func latencyStats(lat []float64) LatencyStats {
	xs := slices.Clone(lat)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return LatencyStats{
		Mean: Num(sum / float64(len(xs))),
		P50:  Num(Quantile(xs, 0.5)),
		P95:  Num(Quantile(xs, 0.95)),
		P99:  Num(Quantile(xs, 0.99)),
		Max:  Num(slices.Max(xs)),
	}
}

// histogram bins xs into n equal-width bins from min to max.
func histogram(xs []float64, n int) Histogram {
	lo, hi := slices.Min(xs), slices.Max(xs)
	if hi <= lo {
		hi = lo + 1
	}
	h := Histogram{Edges: make([]float64, n+1), Counts: make([]int, n)}
	for i := range h.Edges {
		h.Edges[i] = lo + (hi-lo)*float64(i)/float64(n)
	}
	for _, x := range xs {
		b := int(math.Floor((x - lo) / (hi - lo) * float64(n)))
		h.Counts[min(max(b, 0), n-1)]++
	}
	return h
}
