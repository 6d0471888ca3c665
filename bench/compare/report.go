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

	"github.com/sextant-ml/sextant/bench/peer"
)

// report is compare's JSON output.
type report struct {
	Date         string      `json:"date"`
	CPU          string      `json:"cpu"`
	NumCPU       int         `json:"num_cpu"`
	PinnedCPU    int         `json:"pinned_cpu"`
	GoVersion    string      `json:"go_version"`
	LoadAvgStart string      `json:"loadavg_start"`
	LoadAvgEnd   string      `json:"loadavg_end"`
	ORT          ortJSON     `json:"ort"`
	Config       configJSON  `json:"config"`
	Peak         peakJSON    `json:"fma_peak"`
	Models       []modelJSON `json:"models"`
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
	GFLOPS float64            `json:"gflops"`
	Width  string             `json:"width"`
	Rates  map[string]float64 `json:"gflops_by_width"`
}

type modelJSON struct {
	Name        string      `json:"name"`
	Title       string      `json:"title"`
	Sextant     *peer.Stats `json:"sextant_f32,omitempty"`
	ORT         *peer.Stats `json:"ort_f32"`
	Ratio       float64     `json:"ratio_p50,omitempty"` // Sextant p50 / ORT p50
	Unsupported string      `json:"unsupported,omitempty"`
	GEMM        *gemmJSON   `json:"gemm,omitempty"`
}

type gemmJSON struct {
	FLOPs             float64 `json:"flops"`
	SextantGFLOPS     float64 `json:"sextant_gflops"`
	ORTGFLOPS         float64 `json:"ort_gflops"`
	SextantEfficiency float64 `json:"sextant_efficiency"`
	ORTEfficiency     float64 `json:"ort_efficiency"`
}

func newReport(cpu int, o options) *report {
	return &report{
		Date:         time.Now().UTC().Format(time.RFC3339),
		CPU:          cpuModel(),
		NumCPU:       runtime.NumCPU(),
		PinnedCPU:    cpu,
		GoVersion:    runtime.Version(),
		LoadAvgStart: loadavg(),
		ORT: ortJSON{
			Version:        peer.LoadedORTVersion(),
			Library:        o.ortLib,
			SessionOptions: peer.ORTSessionOptions,
		},
		Config: configJSON{
			Iterations:    o.cfg.Iterations,
			MinIterations: o.cfg.MinIterations,
			BudgetS:       o.cfg.Budget.Seconds(),
			Warmup:        o.cfg.Warmup,
			InputSets:     o.cfg.Sets,
			Batch:         1,
			Threads:       1,
		},
	}
}

func (r *report) printHeader(w io.Writer) {
	fmt.Fprintf(w, "date         %s\n", r.Date)
	fmt.Fprintf(w, "cpu          %s (%d CPUs), pinned to CPU %d\n", r.CPU, r.NumCPU, r.PinnedCPU)
	fmt.Fprintf(w, "go           %s %s/%s\n", r.GoVersion, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "loadavg      %s\n", r.LoadAvgStart)
	fmt.Fprintf(w, "ORT          %s (%s)\n", r.ORT.Version, r.ORT.Library)
	fmt.Fprintf(w, "ORT session  %s\n", strings.Join(r.ORT.SessionOptions, "\n             "))
	c := r.Config
	fmt.Fprintf(w, "method       batch 1, 1 thread each, alternating blocks, %d input sets, %d warm-up runs,\n"+
		"             %d–%d timed runs per runtime within %.0f s per model\n",
		c.InputSets, c.Warmup, c.MinIterations, c.Iterations, c.BudgetS)
}

func (r *report) printTable(w io.Writer) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tSextant p50 µs\tp99 µs\tORT p50 µs\tp99 µs\tSextant/ORT\tSextant allocs/run\truns\t")
	for _, m := range r.Models {
		if m.Sextant == nil {
			fmt.Fprintf(tw, "%s\t—\t—\t%.2f\t%.2f\t—\t—\t%d\t%s\n", m.Title, m.ORT.P50US, m.ORT.P99US, m.ORT.Runs, m.Unsupported)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f×\t%.2f\t%d\t\n",
			m.Title, m.Sextant.P50US, m.Sextant.P99US, m.ORT.P50US, m.ORT.P99US, m.Ratio, m.Sextant.AllocsPerRun, m.Sextant.Runs)
	}
	tw.Flush()
	for _, m := range r.Models {
		if g := m.GEMM; g != nil {
			fmt.Fprintf(w, "\n%s at p50, of the %.1f GFLOP/s FMA peak: Sextant %.2f GFLOP/s (%.1f%%), ORT %.2f GFLOP/s (%.1f%%)\n",
				m.Title, r.Peak.GFLOPS, g.SextantGFLOPS, 100*g.SextantEfficiency, g.ORTGFLOPS, 100*g.ORTEfficiency)
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
