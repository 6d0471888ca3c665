package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/sextant-ml/sextant/bench/fma"
	"github.com/sextant-ml/sextant/bench/peer"
)

// report is compare's JSON output.
type report struct {
	Date         string      `json:"date"`
	CPU          string      `json:"cpu"`
	CPUFeatures  string      `json:"cpu_features"`
	NumCPU       int         `json:"num_cpu"`
	PinnedCPU    int         `json:"pinned_cpu"`
	PinnedCPUs   []int       `json:"pinned_cpus,omitempty"` // with more than one thread
	GoVersion    string      `json:"go_version"`
	LoadAvgStart string      `json:"loadavg_start"`
	LoadAvgEnd   string      `json:"loadavg_end"`
	ORT          ortJSON     `json:"ort"`
	Config       configJSON  `json:"config"`
	Peak         peakJSON    `json:"fma_peak"`
	Models       []modelJSON `json:"models"`

	peakBefore, peakAfter fma.Peak
}

type ortJSON struct {
	Version        string   `json:"version"`
	Library        string   `json:"library"`
	SessionOptions []string `json:"session_options"`
}

type configJSON struct {
	Iterations    int     `json:"iterations"`
	MinIterations int     `json:"min_iterations"`
	BudgetS       float64 `json:"budget_s"`
	Warmup        int     `json:"warmup"`
	InputSets     int     `json:"input_sets"`
	Batch         int     `json:"batch"`
	Threads       int     `json:"threads"`
}

type peakJSON struct {
	GFLOPS float64 `json:"gflops"` // the larger of the two measurements
	Width  string  `json:"width"`
	// Before and After are the rates per vector width, in GFLOP/s,
	// measured before and after the models.
	Before map[string]float64 `json:"gflops_before"`
	After  map[string]float64 `json:"gflops_after"`
}

// setPeak records both peak measurements, takes the larger as the peak and
// computes GEMM efficiency against it.
func (r *report) setPeak(before, after fma.Peak) {
	best := before
	if after.FLOPS > best.FLOPS {
		best = after
	}
	gflops := func(p fma.Peak) map[string]float64 {
		m := map[string]float64{}
		for k, v := range p.Rates {
			m[k] = v / 1e9
		}
		return m
	}
	r.Peak = peakJSON{GFLOPS: best.FLOPS / 1e9, Width: best.Width, Before: gflops(before), After: gflops(after)}
	r.peakBefore, r.peakAfter = before, after
	for i := range r.Models {
		m := &r.Models[i]
		if m.FLOPs == 0 || m.Sextant == nil || best.FLOPS == 0 {
			continue
		}
		m.GEMM = &gemmJSON{
			SextantGFLOPS:     m.FLOPs / m.Sextant.P50US / 1e3,
			ORTGFLOPS:         m.FLOPs / m.ORT.P50US / 1e3,
			SextantEfficiency: m.FLOPs / (m.Sextant.P50US * 1e-6) / best.FLOPS,
			ORTEfficiency:     m.FLOPs / (m.ORT.P50US * 1e-6) / best.FLOPS,
		}
	}
}

type modelJSON struct {
	Name        string      `json:"name"`
	Title       string      `json:"title"`
	Sextant     *peer.Stats `json:"sextant_f32,omitempty"`
	ORT         *peer.Stats `json:"ort_f32"`
	Ratio       float64     `json:"ratio_p50,omitempty"` // Sextant p50 / ORT p50
	Unsupported string      `json:"unsupported,omitempty"`
	FLOPs       float64     `json:"flops,omitempty"` // per run, where efficiency is reported
	GEMM        *gemmJSON   `json:"gemm,omitempty"`  // efficiency at p50 against the FMA peak

	// Sextant int8-dynamic (quant.Dynamic), timed alternating with the
	// other two; nil with Int8NA saying why when it does not apply.
	Int8   *peer.Stats `json:"sextant_int8,omitempty"`
	Int8NA string      `json:"sextant_int8_na,omitempty"`
	// Int8Speedup is Sextant f32 p50 / Sextant int8 p50.
	Int8Speedup float64 `json:"int8_speedup_p50,omitempty"`
	// Int8WeightRatio is initializer bytes f32 / int8, from
	// Int8F32WeightBytes and Int8WeightBytes.
	Int8WeightRatio    float64 `json:"int8_weight_ratio,omitempty"`
	Int8F32WeightBytes int64   `json:"f32_weight_bytes,omitempty"`
	Int8WeightBytes    int64   `json:"int8_weight_bytes,omitempty"`
	Int8Products       int     `json:"int8_products,omitempty"`
	// Int8RelErr is max |int8 − f32| over max |f32| on the input sets.
	Int8RelErr float64 `json:"int8_rel_max_error,omitempty"`
}

type gemmJSON struct {
	SextantGFLOPS     float64 `json:"sextant_gflops"`
	ORTGFLOPS         float64 `json:"ort_gflops"`
	SextantEfficiency float64 `json:"sextant_efficiency"`
	ORTEfficiency     float64 `json:"ort_efficiency"`
}

func newReport(cpus []int, o options) *report {
	var pinned []int
	if len(cpus) > 1 {
		pinned = cpus
	}
	return &report{
		Date:         time.Now().UTC().Format(time.RFC3339),
		CPU:          cpuModel(),
		CPUFeatures:  cpuFeatures(),
		NumCPU:       runtime.NumCPU(),
		PinnedCPU:    cpus[0],
		PinnedCPUs:   pinned,
		GoVersion:    runtime.Version(),
		LoadAvgStart: loadavg(),
		ORT: ortJSON{
			Version:        peer.LoadedORTVersion(),
			Library:        o.ortLib,
			SessionOptions: peer.ORTSessionOptions(o.threads),
		},
		Config: configJSON{
			Iterations:    o.cfg.Iterations,
			MinIterations: o.cfg.MinIterations,
			BudgetS:       o.cfg.Budget.Seconds(),
			Warmup:        o.cfg.Warmup,
			InputSets:     o.cfg.Sets,
			Batch:         1,
			Threads:       o.threads,
		},
	}
}

func (r *report) printHeader(w io.Writer) {
	fmt.Fprintf(w, "date         %s\n", r.Date)
	if r.PinnedCPUs != nil {
		fmt.Fprintf(w, "cpu          %s (%d CPUs), pinned to CPUs %v\n", r.CPU, r.NumCPU, r.PinnedCPUs)
	} else {
		fmt.Fprintf(w, "cpu          %s (%d CPUs), pinned to CPU %d\n", r.CPU, r.NumCPU, r.PinnedCPU)
	}
	fmt.Fprintf(w, "features     %s\n", r.CPUFeatures)
	fmt.Fprintf(w, "go           %s %s/%s\n", r.GoVersion, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "loadavg      %s\n", r.LoadAvgStart)
	fmt.Fprintf(w, "ORT          %s (%s)\n", r.ORT.Version, r.ORT.Library)
	fmt.Fprintf(w, "ORT session  %s\n", strings.Join(r.ORT.SessionOptions, "\n             "))
	c := r.Config
	fmt.Fprintf(w, "method       batch 1, %d thread(s) each, alternating blocks, %d input sets, %d warm-up runs,\n"+
		"             %d–%d timed runs per runtime within %.0f s per model\n",
		c.Threads, c.InputSets, c.Warmup, c.MinIterations, c.Iterations, c.BudgetS)
}

func (r *report) printTable(w io.Writer) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tSextant p50 µs\tp99 µs\tORT p50 µs\tp99 µs\tSextant/ORT\tint8 p50 µs\tf32/int8\tweights f32/int8\tint8 rel. err\tSextant allocs/run\truns\t")
	for _, m := range r.Models {
		if m.Sextant == nil {
			fmt.Fprintf(tw, "%s\t—\t—\t%.2f\t%.2f\t—\t—\t—\t—\t—\t—\t%d\t%s\n", m.Title, m.ORT.P50US, m.ORT.P99US, m.ORT.Runs, m.Unsupported)
			continue
		}
		int8Cols := "n/a\tn/a\tn/a\tn/a"
		if m.Int8 != nil {
			int8Cols = fmt.Sprintf("%.2f\t%.2f×\t%.2f×\t%.2g", m.Int8.P50US, m.Int8Speedup, m.Int8WeightRatio, m.Int8RelErr)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f×\t%s\t%.2f\t%d\t\n",
			m.Title, m.Sextant.P50US, m.Sextant.P99US, m.ORT.P50US, m.ORT.P99US, m.Ratio, int8Cols, m.Sextant.AllocsPerRun, m.Sextant.Runs)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nFMA peak     %s before, %s after the models\n", describePeak(r.peakBefore), describePeak(r.peakAfter))
	for _, m := range r.Models {
		if g := m.GEMM; g != nil {
			fmt.Fprintf(w, "%s at p50, of the %.1f GFLOP/s FMA peak: Sextant %.2f GFLOP/s (%.1f%%), ORT %.2f GFLOP/s (%.1f%%)\n",
				m.Title, r.Peak.GFLOPS, g.SextantGFLOPS, 100*g.SextantEfficiency, g.ORTGFLOPS, 100*g.ORTEfficiency)
		}
	}
	for _, m := range r.Models {
		if q := m.Int8; q != nil {
			fmt.Fprintf(w, "int8-dynamic %s: Sextant f32/int8 p50 %.2f×, weights %d → %d bytes (%.2f×), %d products, rel. max error %.2g, %.2f allocs/run\n",
				m.Title, m.Int8Speedup, m.Int8F32WeightBytes, m.Int8WeightBytes, m.Int8WeightRatio, m.Int8Products, m.Int8RelErr, q.AllocsPerRun)
		}
	}
	fmt.Fprintf(w, "loadavg at end %s\n", r.LoadAvgEnd)
}

// loadavg returns /proc/loadavg's three load averages, or "n/a".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// cpuFeatures lists the SIMD features that matter to the kernels.
func cpuFeatures() string {
	var fs []string
	for _, f := range []struct {
		name string
		has  bool
	}{
		{"AVX2", cpu.X86.HasAVX2}, {"FMA", cpu.X86.HasFMA}, {"AVX-512F", cpu.X86.HasAVX512F},
		{"AVX-512 VNNI", cpu.X86.HasAVX512VNNI}, {"AVX-512 BF16", cpu.X86.HasAVX512BF16},
		{"ASIMD", cpu.ARM64.HasASIMD}, {"ASIMDDP", cpu.ARM64.HasASIMDDP},
	} {
		if f.has {
			fs = append(fs, f.name)
		}
	}
	if len(fs) == 0 {
		return "none detected"
	}
	return strings.Join(fs, " ")
}

// cpuModel returns /proc/cpuinfo's model name, or GOARCH.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
