package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/eval"
	"github.com/sextant-ml/sextant/tensor"
)

// validateReport is validate's JSON output.
type validateReport struct {
	Candidate string         `json:"candidate"`
	Reference string         `json:"reference"`
	Profile   string         `json:"profile"`
	Examples  int            `json:"examples"`
	Outputs   []outputParity `json:"outputs"`
	Latency   latencyReport  `json:"latency"`
	Memory    memoryReport   `json:"memory"`
	EnergyUJ  float64        `json:"energy_uj"`
	Metric    *metricDelta   `json:"metric,omitempty"`
	Checks    []check        `json:"checks"`
	Passed    bool           `json:"passed"`
}

type outputParity struct {
	Name   string  `json:"name"`
	MaxAbs float64 `json:"max_abs"`
	MaxRel float64 `json:"max_rel"`
	Cosine float64 `json:"cosine"`
}

// metricDelta is a task metric on the candidate and the reference.
type metricDelta struct {
	Name           string  `json:"name"`
	Candidate      float64 `json:"candidate"`
	Reference      float64 `json:"reference"`
	HigherIsBetter bool    `json:"higher_is_better"`
	// Drop is how much worse the candidate is (reference − candidate for a
	// higher-is-better metric, the reverse otherwise); negative is better.
	Drop float64 `json:"drop"`
}

type latencyReport struct {
	HostP50US   float64 `json:"host_p50_us"`
	HostP95US   float64 `json:"host_p95_us"`
	HostP99US   float64 `json:"host_p99_us"`
	DeviceP95US float64 `json:"device_p95_us"`
	SpeedFactor float64 `json:"speed_factor"`
}

type memoryReport struct {
	ArenaBytes   int64 `json:"arena_bytes"`
	WeightBytes  int64 `json:"weight_bytes"`
	BundleBytes  int64 `json:"bundle_bytes"`
	PeakRunBytes int64 `json:"peak_bytes"`
}

// check is one budget or tolerance, measured.
type check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	Unit   string  `json:"unit"`
	Passed bool    `json:"passed"`
	// Max is true when Value must not exceed Limit, false when it must not
	// fall below it (cosine similarity).
	Max bool `json:"max"`
}

func newValidateCmd(e *env) *cobra.Command {
	var (
		ref, data, dev, budget, tol string
		metric, labels, task        string
		maxDrop                     float64
		asJSON                      bool
		limit, iters                int
	)
	cmd := &cobra.Command{
		Use:   "validate CANDIDATE.sxm --reference REF(.onnx|.sxm) --data DIR",
		Short: "Check a converted model against its source and a device budget",
		Long: `Runs the candidate and the reference on every example of a data set (a
directory of .npy files named after the model's inputs, first axis = example)
and reports, per output, the maximum absolute and relative error and the cosine
similarity; then measures the candidate's latency, memory and energy under a
device profile. Budgets default to the profile's (latency p95, arena, energy)
and can be set with --budget latency_p95=2ms,arena=8MiB,size=1MiB,energy=50uJ;
tolerances with --tolerance max_abs=1e-3,max_rel=…,cosine=0.999. Device latency
is the host latency times the profile's speed factor; energy is
CPU power × device time + DRAM energy × weight bytes (docs/benchmarks.md).
Exits 1 with a table when any budget or tolerance is broken.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ref == "" || data == "" {
				return fmt.Errorf("--reference and --data are required")
			}
			prof, err := profile.Load(dev)
			if err != nil {
				return err
			}
			if (metric == "") != (labels == "") {
				return fmt.Errorf("--metric and --labels go together")
			}
			rep, err := validate(cmd.Context(), args[0], ref, data, prof, limit, iters)
			if err != nil {
				return err
			}
			checks, err := validateChecks(rep, prof, budget, tol)
			if err != nil {
				return err
			}
			if metric != "" {
				md, err := taskMetric(cmd.Context(), args[0], ref, data, metric, labels, task, limit)
				if err != nil {
					return err
				}
				rep.Metric = md
				checks = append(checks, check{Name: md.Name + " drop", Value: md.Drop, Limit: maxDrop, Max: true, Passed: md.Drop <= maxDrop})
			}
			rep.Checks, rep.Passed = checks, true
			for _, c := range checks {
				rep.Passed = rep.Passed && c.Passed
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printValidate(e.stdout, rep)
			}
			if !rep.Passed {
				return &exitError{code: 1, msg: "validation failed: a budget or tolerance is broken"}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ref, "reference", "", "the model the candidate was converted from (.onnx or .sxm)")
	cmd.Flags().StringVar(&data, "data", "", "directory of .npy files named after the inputs (first axis = example)")
	cmd.Flags().StringVar(&dev, "profile", "phone-mid", "device profile: a built-in name ("+strings.Join(profile.Names(), ", ")+") or a JSON file")
	cmd.Flags().StringVar(&budget, "budget", "", "budgets overriding the profile's: latency_p95=DUR,arena=BYTES,size=BYTES,energy=ENERGY")
	cmd.Flags().StringVar(&tol, "tolerance", "max_abs=1e-3,cosine=0.999", "output tolerances: max_abs, max_rel, cosine")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&metric, "metric", "", "a task metric to compare (acc@1, mrr, mae, … as in sextant eval), with --labels")
	cmd.Flags().StringVar(&labels, "labels", "", "the .npy file (by name, in --data) holding the labels for --metric")
	cmd.Flags().StringVar(&task, "task", "", "ranking, classification or regression (default: regression for float labels, else classification)")
	cmd.Flags().Float64Var(&maxDrop, "max-metric-drop", 0.005, "the largest allowed drop of --metric (0.005 = half a point of accuracy)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many examples")
	cmd.Flags().IntVar(&iters, "iterations", 500, "timed runs for latency")
	return cmd
}

func validate(ctx context.Context, candPath, refPath, dataDir string, prof *profile.Profile, limit, iters int) (*validateReport, error) {
	cand, err := loadModel(candPath, engine.Options{MaxArenaBytes: prof.ArenaBytes})
	if err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	defer cand.close()
	refm, err := loadModel(refPath, engine.Options{})
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer refm.close()
	names := cand.model.InputNames()
	columns := make([]*tensor.Tensor, len(names))
	n := -1
	for i, name := range names {
		t, err := tensor.ReadNPYFile(filepath.Join(dataDir, safeFileName(name)+".npy"))
		if err != nil {
			return nil, fmt.Errorf("data for input %q: %w", name, err)
		}
		if t.Rank() == 0 || (n >= 0 && t.Shape[0] != n) {
			return nil, fmt.Errorf("data for input %q: shape %v; every input needs the same number of examples on its first axis", name, t.Shape)
		}
		n = t.Shape[0]
		columns[i] = t
	}
	n = min(n, limit)
	if n <= 0 {
		return nil, fmt.Errorf("no examples in %s", dataDir)
	}
	rep := &validateReport{Candidate: candPath, Reference: refPath, Profile: prof.Name, Examples: n}
	cs, rs := cand.model.NewSession(), refm.model.NewSession()
	outNames := cand.model.OutputNames()
	acc := make([]parityAcc, len(outNames))
	var first []*tensor.Tensor
	for i := 0; i < n; i++ {
		ins := make([]*tensor.Tensor, len(columns))
		for j, c := range columns {
			ins[j] = exampleOf(c, i)
		}
		if first == nil {
			first = ins
		}
		co, err := cs.Run(ctx, ins)
		if err != nil {
			return nil, fmt.Errorf("candidate, example %d: %w", i, err)
		}
		ro, err := rs.Run(ctx, ins)
		if err != nil {
			return nil, fmt.Errorf("reference, example %d: %w", i, err)
		}
		if len(ro) != len(co) {
			return nil, fmt.Errorf("candidate has %d outputs, reference %d", len(co), len(ro))
		}
		for k := range co {
			if err := acc[k].add(co[k], ro[k]); err != nil {
				return nil, fmt.Errorf("output %s: %w", outNames[k], err)
			}
		}
	}
	for k, name := range outNames {
		rep.Outputs = append(rep.Outputs, acc[k].result(name))
	}
	// Latency on the first example, after warm-up.
	for i := 0; i < 20; i++ {
		if _, err := cs.Run(ctx, first); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, iters)
	for i := range lat {
		t0 := time.Now()
		if _, err := cs.Run(ctx, first); err != nil {
			return nil, err
		}
		lat[i] = time.Since(t0)
	}
	_, p50, p95, p99 := latencyStats(lat)
	rep.Latency = latencyReport{HostP50US: p50, HostP95US: p95, HostP99US: p99, DeviceP95US: p95 * prof.SpeedFactor, SpeedFactor: prof.SpeedFactor}
	for _, v := range cand.graph.Initializers {
		if v.Const != nil {
			rep.Memory.WeightBytes += int64(len(v.Const.Raw))
		}
	}
	rep.Memory.ArenaBytes = int64(cs.ArenaBytes())
	rep.Memory.PeakRunBytes = rep.Memory.ArenaBytes + rep.Memory.WeightBytes
	if fi, err := os.Stat(candPath); err == nil {
		rep.Memory.BundleBytes = fi.Size()
	}
	devTime := time.Duration(p50 * prof.SpeedFactor * float64(time.Microsecond))
	rep.EnergyUJ = prof.InferenceEnergy(devTime, rep.Memory.WeightBytes) * 1e6
	return rep, nil
}

// exampleOf returns example i of a data column as a batch of one (the first
// axis kept, of size 1), sharing the column's memory.
func exampleOf(c *tensor.Tensor, i int) *tensor.Tensor {
	shape := append(tensor.Shape{1}, c.Shape[1:]...)
	per := shape.NumElements()
	t := &tensor.Tensor{DType: c.DType, Shape: shape}
	if c.DType == tensor.String {
		t.Strs = c.Strs[i*per : (i+1)*per]
		return t
	}
	sz := c.DType.Size()
	t.Raw = c.Raw[i*per*sz : (i+1)*per*sz]
	return t
}

// parityAcc accumulates one output's differences over examples.
type parityAcc struct {
	maxAbs, maxRel    float64
	dot, normA, normB float64
}

func (a *parityAcc) add(got, want *tensor.Tensor) error {
	if !got.Shape.Equal(want.Shape) {
		return fmt.Errorf("shape %v, reference %v", got.Shape, want.Shape)
	}
	for i := 0; i < got.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		d := math.Abs(g - w)
		a.maxAbs = math.Max(a.maxAbs, d)
		a.maxRel = math.Max(a.maxRel, d/math.Max(math.Abs(w), 1e-6))
		a.dot += g * w
		a.normA += g * g
		a.normB += w * w
	}
	return nil
}

func (a *parityAcc) result(name string) outputParity {
	cos := 1.0
	if a.normA > 0 || a.normB > 0 {
		cos = a.dot / math.Sqrt(a.normA*a.normB)
	}
	return outputParity{Name: name, MaxAbs: a.maxAbs, MaxRel: a.maxRel, Cosine: cos}
}

// validateChecks compares the report with the profile's budgets, overridden
// by --budget, and with --tolerance.
func validateChecks(rep *validateReport, prof *profile.Profile, budget, tol string) ([]check, error) {
	limits := map[string]float64{
		"latency_p95": time.Duration(prof.Latency).Seconds() * 1e6,
		"arena":       float64(prof.ArenaBytes),
	}
	if prof.EnergyBudgetJoules > 0 {
		limits["energy"] = prof.EnergyBudgetJoules * 1e6
	}
	kv, err := parseKV(budget)
	if err != nil {
		return nil, fmt.Errorf("--budget: %w", err)
	}
	for k, v := range kv {
		var x float64
		switch k {
		case "latency_p95":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("--budget %s: %w", k, err)
			}
			x = d.Seconds() * 1e6
		case "arena", "size":
			x, err = parseBytes(v)
		case "energy":
			x, err = parseEnergyUJ(v)
		default:
			return nil, fmt.Errorf("--budget: unknown budget %q (want latency_p95, arena, size, energy)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("--budget %s: %w", k, err)
		}
		limits[k] = x
	}
	var checks []check
	add := func(name string, value, limit float64, unit string, isMax bool) {
		ok := value <= limit
		if !isMax {
			ok = value >= limit
		}
		checks = append(checks, check{Name: name, Value: value, Limit: limit, Unit: unit, Passed: ok, Max: isMax})
	}
	if l, ok := limits["latency_p95"]; ok {
		add("latency_p95 (device)", rep.Latency.DeviceP95US, l, "µs", true)
	}
	if l, ok := limits["arena"]; ok {
		add("arena", float64(rep.Memory.ArenaBytes), l, "B", true)
	}
	if l, ok := limits["size"]; ok {
		add("size", float64(rep.Memory.BundleBytes), l, "B", true)
	}
	if l, ok := limits["energy"]; ok {
		add("energy", rep.EnergyUJ, l, "µJ", true)
	}
	tk, err := parseKV(tol)
	if err != nil {
		return nil, fmt.Errorf("--tolerance: %w", err)
	}
	keys := make([]string, 0, len(tk))
	for k := range tk {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x, err := strconv.ParseFloat(tk[k], 64)
		if err != nil {
			return nil, fmt.Errorf("--tolerance %s: %w", k, err)
		}
		for _, o := range rep.Outputs {
			switch k {
			case "max_abs":
				add(o.Name+" max_abs", o.MaxAbs, x, "", true)
			case "max_rel":
				add(o.Name+" max_rel", o.MaxRel, x, "", true)
			case "cosine":
				add(o.Name+" cosine", o.Cosine, x, "", false)
			default:
				return nil, fmt.Errorf("--tolerance: unknown tolerance %q (want max_abs, max_rel, cosine)", k)
			}
		}
	}
	return checks, nil
}

func parseKV(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: want NAME=VALUE", part)
		}
		m[k] = v
	}
	return m, nil
}

// parseBytes reads sizes such as 8MiB, 512KiB, 1MB or 4096.
func parseBytes(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseFloat(s, 64)
}

// parseEnergyUJ reads energies such as 50uJ, 50µJ, 2mJ or 0.001J, in µJ.
func parseEnergyUJ(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"uJ", 1}, {"µJ", 1}, {"mJ", 1e3}, {"J", 1e6}} {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			return v * u.mult, err
		}
	}
	return 0, fmt.Errorf("%q: want a unit (uJ, mJ, J)", s)
}

// taskMetric computes a task metric of the first output on both models over
// the data set's examples, with labels from DIR/LABELS.npy.
func taskMetric(ctx context.Context, candPath, refPath, dataDir, name, labelsName, taskName string, limit int) (*metricDelta, error) {
	m, err := eval.Lookup(name)
	if err != nil {
		return nil, err
	}
	lt, err := tensor.ReadNPYFile(filepath.Join(dataDir, safeFileName(labelsName)+".npy"))
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	task := eval.Regression
	if taskName != "" {
		if task, err = eval.ParseTask(taskName); err != nil {
			return nil, err
		}
	} else if !lt.DType.IsFloat() {
		task = eval.Classification
	}
	n := min(lt.Len(), limit)
	labels := make([]float64, n)
	for i := range labels {
		labels[i] = lt.Float64At(i)
	}
	value := func(path string) (float64, error) {
		lm, err := loadModel(path, engine.Options{})
		if err != nil {
			return 0, err
		}
		defer lm.close()
		names := lm.model.InputNames()
		cols := make([]*tensor.Tensor, len(names))
		for i, nm := range names {
			if cols[i], err = tensor.ReadNPYFile(filepath.Join(dataDir, safeFileName(nm)+".npy")); err != nil {
				return 0, err
			}
		}
		s := lm.model.NewSession()
		var sc eval.Scores
		for i := 0; i < n; i++ {
			ins := make([]*tensor.Tensor, len(cols))
			for j, c := range cols {
				ins[j] = exampleOf(c, i)
			}
			outs, err := s.Run(ctx, ins)
			if err != nil {
				return 0, err
			}
			o := outs[0]
			if sc.Width == 0 {
				sc.Width = o.Len()
			}
			if o.Len() != sc.Width {
				return 0, fmt.Errorf("output %s has %d values per example, then %d", lm.model.OutputNames()[0], sc.Width, o.Len())
			}
			for k := 0; k < o.Len(); k++ {
				sc.Values = append(sc.Values, o.Float64At(k))
			}
		}
		outs, err := eval.NewOutputs(task, eval.AutoScores, sc, labels)
		if err != nil {
			return 0, err
		}
		v, err := m.PerExample(outs)
		if err != nil {
			return 0, err
		}
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return m.Aggregate(v, idx, nil), nil
	}
	c, err := value(candPath)
	if err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	r, err := value(refPath)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	md := &metricDelta{Name: m.Name(), Candidate: c, Reference: r, HigherIsBetter: m.HigherIsBetter(), Drop: c - r}
	if md.HigherIsBetter {
		md.Drop = r - c
	}
	return md, nil
}

func printValidate(w io.Writer, r *validateReport) {
	fmt.Fprintf(w, "%s vs %s on %d examples, device profile %s\n\n", r.Candidate, r.Reference, r.Examples, r.Profile)
	fmt.Fprintf(w, "%-24s %12s %12s %10s\n", "output", "max |Δ|", "max rel", "cosine")
	for _, o := range r.Outputs {
		fmt.Fprintf(w, "%-24s %12.3g %12.3g %10.6f\n", o.Name, o.MaxAbs, o.MaxRel, o.Cosine)
	}
	fmt.Fprintf(w, "\nlatency   host p50 %.1f µs, p95 %.1f µs, p99 %.1f µs; device p95 ≈ %.1f µs (×%.2g)\n",
		r.Latency.HostP50US, r.Latency.HostP95US, r.Latency.HostP99US, r.Latency.DeviceP95US, r.Latency.SpeedFactor)
	fmt.Fprintf(w, "memory    arena %d B, weights %d B, bundle %d B\nenergy    ≈ %.3g µJ per inference\n\n",
		r.Memory.ArenaBytes, r.Memory.WeightBytes, r.Memory.BundleBytes, r.EnergyUJ)
	if md := r.Metric; md != nil {
		fmt.Fprintf(w, "metric    %s: candidate %.4g, reference %.4g, drop %.4g\n\n", md.Name, md.Candidate, md.Reference, md.Drop)
	}
	fmt.Fprintf(w, "%-28s %14s %14s  %s\n", "check", "value", "limit", "result")
	for _, c := range r.Checks {
		res, op := "ok", "≤"
		if !c.Max {
			op = "≥"
		}
		if !c.Passed {
			res = "BROKEN"
		}
		fmt.Fprintf(w, "%-28s %14.4g %12s %-2s %s %s\n", c.Name, c.Value, op, strconv.FormatFloat(c.Limit, 'g', 4, 64), c.Unit, res)
	}
}
