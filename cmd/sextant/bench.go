package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// benchResult is bench's JSON output; the keys are a stable interface.
type benchResult struct {
	Model        string  `json:"model"`
	Iterations   int     `json:"iterations"`
	MeanUS       float64 `json:"mean_us"`
	P50US        float64 `json:"p50_us"`
	P95US        float64 `json:"p95_us"`
	P99US        float64 `json:"p99_us"`
	AllocsPerRun float64 `json:"allocs_per_run"`
	ArenaBytes   int     `json:"arena_bytes"`
	LoadUS       float64 `json:"load_us"`
	// EnergyUJ estimates one inference's energy on the device profile:
	// CPU power × (p50 × speed factor) + DRAM energy × weight bytes.
	EnergyUJ float64     `json:"energy_uj"`
	Device   string      `json:"device"`
	Threads  int         `json:"threads"`
	Ops      []opProfile `json:"ops,omitempty"`
}

type opProfile struct {
	Op     string  `json:"op"`
	Nodes  int     `json:"nodes"`
	MeanUS float64 `json:"mean_us"`
	Share  float64 `json:"share"`
}

func newBenchCmd(e *env) *cobra.Command {
	var (
		iters, warmup int
		threads       int
		asJSON, prof  bool
		dims          []string
		seed          uint64
		device        string
	)
	cmd := &cobra.Command{
		Use:   "bench FILE(.sxm|.onnx)",
		Short: "Measure a model's latency, allocations and memory",
		Long: `Opens the model, runs it once (open-to-first-inference is load_us), warms
up, then times --iterations runs on seeded random inputs (symbolic dims are 1
unless set with --dim NAME=N). Reports latency mean/p50/p95/p99 in µs, heap
allocations per run and the planned arena bytes; --profile adds time per op type.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			bind := map[string]int{}
			for _, d := range dims {
				k, v, ok := strings.Cut(d, "=")
				n, err := strconv.Atoi(v)
				if !ok || err != nil || n < 0 {
					return fmt.Errorf("--dim %q: want NAME=N", d)
				}
				bind[k] = n
			}
			dev, err := profile.Load(device)
			if err != nil {
				return err
			}
			t0 := time.Now()
			lm, err := loadModel(args[0], engine.Options{Dims: bind, Profile: prof, Threads: threads})
			if err != nil {
				return err
			}
			defer lm.close()
			ins, err := randomInputs(lm.graph, bind, seed)
			if err != nil {
				return err
			}
			s := lm.model.NewSession()
			if _, err := s.Run(ctx, ins); err != nil {
				return err
			}
			load := time.Since(t0)
			for i := 0; i < warmup; i++ {
				if _, err := s.Run(ctx, ins); err != nil {
					return err
				}
			}
			if p := s.Profile(); p != nil {
				p.Reset()
			}
			lat := make([]time.Duration, iters)
			// Allocations are counted process-wide, so the Go runtime's
			// (or a host's) background work can add a few. The runs are
			// timed in windows and the smallest window's rate is
			// reported: an allocation the model makes per run shows up in
			// every window, background noise does not.
			const windows = 10
			allocs := math.Inf(1)
			var ms runtime.MemStats
			for w := 0; w < windows; w++ {
				lo, hi := w*iters/windows, (w+1)*iters/windows
				if hi == lo {
					continue
				}
				runtime.ReadMemStats(&ms)
				mallocs := ms.Mallocs
				for i := lo; i < hi; i++ {
					t := time.Now()
					if _, err := s.Run(ctx, ins); err != nil {
						return err
					}
					lat[i] = time.Since(t)
				}
				runtime.ReadMemStats(&ms)
				allocs = math.Min(allocs, float64(ms.Mallocs-mallocs)/float64(hi-lo))
			}
			if math.IsInf(allocs, 1) {
				allocs = 0
			}
			res := benchResult{
				Model:        args[0],
				Iterations:   iters,
				AllocsPerRun: allocs,
				ArenaBytes:   s.ArenaBytes(),
				LoadUS:       us(load),
				Threads:      lm.model.Threads(),
			}
			res.MeanUS, res.P50US, res.P95US, res.P99US = latencyStats(lat)
			var weights int64
			for _, v := range lm.graph.Initializers {
				if v.Const != nil {
					weights += int64(len(v.Const.Raw))
				}
			}
			res.Device = dev.Name
			res.EnergyUJ = 1e6 * dev.InferenceEnergy(time.Duration(res.P50US*dev.SpeedFactor*float64(time.Microsecond)), weights)
			if p := s.Profile(); p != nil {
				for _, o := range p.Ops() {
					res.Ops = append(res.Ops, opProfile{Op: o.Op, Nodes: o.Count, MeanUS: us(o.Mean), Share: o.Share})
				}
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(e.stdout, "%s: %d iterations after %d warm-up, %d thread(s)\n", args[0], iters, warmup, res.Threads)
			fmt.Fprintf(e.stdout, "latency µs   mean %.2f  p50 %.2f  p95 %.2f  p99 %.2f\n", res.MeanUS, res.P50US, res.P95US, res.P99US)
			fmt.Fprintf(e.stdout, "allocs/run   %.2f\narena        %d bytes\nload         %.0f µs (open %.0f µs, compile %.0f µs, first run)\n",
				res.AllocsPerRun, res.ArenaBytes, res.LoadUS, us(lm.openDur), us(lm.compile))
			fmt.Fprintf(e.stdout, "energy       ≈ %.3g µJ per inference on %s\n", res.EnergyUJ, res.Device)
			if len(res.Ops) > 0 {
				fmt.Fprintf(e.stdout, "\n%-22s %6s %10s %7s\n", "op", "nodes", "mean µs", "share")
				for _, o := range res.Ops {
					fmt.Fprintf(e.stdout, "%-22s %6d %10.2f %6.1f%%\n", o.Op, o.Nodes, o.MeanUS, 100*o.Share)
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&iters, "iterations", 1000, "timed runs")
	cmd.Flags().IntVar(&warmup, "warmup", 100, "untimed runs before timing")
	cmd.Flags().IntVar(&threads, "threads", 1, "threads one large op may use (intra-op parallelism; 1 as on a phone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&prof, "profile", false, "report time per op type")
	cmd.Flags().StringArrayVar(&dims, "dim", nil, "bind a symbolic dimension, NAME=N")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for the random inputs")
	cmd.Flags().StringVar(&device, "device", "phone-mid", "device profile for the energy estimate: a built-in name or a JSON file")
	return cmd
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// latencyStats returns the mean and the 50th, 95th and 99th percentiles
// (nearest rank) in µs.
func latencyStats(lat []time.Duration) (mean, p50, p95, p99 float64) {
	if len(lat) == 0 {
		return
	}
	s := append([]time.Duration{}, lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		return us(s[min(max(i, 0), len(s)-1)])
	}
	return us(sum) / float64(len(s)), rank(0.50), rank(0.95), rank(0.99)
}

// randomInputs makes seeded inputs for every graph input: floats uniform in
// [-1, 1), integers zero (they are often indices), booleans false.
func randomInputs(g *graph.Graph, bind map[string]int, seed uint64) ([]*tensor.Tensor, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ins := make([]*tensor.Tensor, len(g.Inputs))
	for i, v := range g.Inputs {
		if !v.Type.Known {
			return nil, fmt.Errorf("input %q has unknown rank; cannot make a random input", v.Name)
		}
		shape := make([]int, len(v.Type.Shape))
		for j, d := range v.Type.Shape {
			switch {
			case d.IsFixed():
				shape[j] = int(d.Size)
			case d.Sym != "" && bind[d.Sym] > 0:
				shape[j] = bind[d.Sym]
			default:
				shape[j] = 1
			}
		}
		t := tensor.New(v.Type.DType, shape...)
		switch v.Type.DType {
		case tensor.Float32:
			d := tensor.Data[float32](t)
			for k := range d {
				d[k] = rng.Float32()*2 - 1
			}
		case tensor.Float64:
			d := tensor.Data[float64](t)
			for k := range d {
				d[k] = rng.Float64()*2 - 1
			}
		case tensor.Float16:
			d := tensor.Data[uint16](t)
			for k := range d {
				d[k] = uint16(tensor.Float16FromFloat32(rng.Float32()*2 - 1))
			}
		}
		ins[i] = t
	}
	return ins, nil
}
