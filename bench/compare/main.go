// Command compare runs Sextant and ONNX Runtime side by side on the model
// set of bench/models and prints a latency table (and, with --json, writes
// it as JSON).
//
// Run it from the bench module (ONNX Runtime must be installed first):
//
//	cd bench && ./setup.sh && go run ./compare
//	go run -C bench ./compare --json /tmp/peer.json   # from the repository root
//
// Method: batch 1, one thread each (ORT: one intra-op and one inter-op
// thread, sequential execution, all graph optimizations), the process's
// goroutine locked to its thread and the thread pinned to one CPU (with
// --threads N: N intra-op threads each, pinned to N CPUs), Sextant
// and ORT runs alternating in blocks, every run timed alone with the same
// clock, inputs rotated over 16 pre-made sets whose memory both runtimes
// read. The core's FMA peak is measured in the same run, so GEMM efficiency
// is achieved FLOP/s (at p50) over measured peak.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sextant-ml/sextant/bench/fma"
	"github.com/sextant-ml/sextant/bench/peer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

type options struct {
	dir, ortLib, jsonPath string
	models                []string
	cfg                   peer.Config
	cpu                   int
	threads               int
	peakTime              time.Duration
	// tail mode (--tail): series of tailRuns runs, tailReps of them.
	tail               bool
	tailRuns, tailReps int
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	var o options
	var models string
	fs.StringVar(&o.dir, "dir", "", "the bench module's directory (default: . or ./bench, whichever holds models/export.py)")
	fs.StringVar(&o.ortLib, "ort-lib", "", "ONNX Runtime shared library (default: $ORT_LIB, else where setup.sh installs it)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to `FILE`")
	fs.StringVar(&models, "models", "", "comma-separated model names (default: the whole set)")
	fs.IntVar(&o.cfg.Iterations, "iterations", 10000, "most timed runs per runtime and model")
	fs.IntVar(&o.cfg.MinIterations, "min-iterations", 200, "fewest timed runs per runtime and model")
	fs.DurationVar(&o.cfg.Budget, "budget", 10*time.Second, "timed-run time per model, both runtimes together (caps --iterations)")
	fs.IntVar(&o.cfg.Warmup, "warmup", 50, "untimed runs per runtime before timing")
	fs.IntVar(&o.cpu, "cpu", -1, "CPU to pin to (default: the highest-numbered allowed CPU)")
	fs.IntVar(&o.threads, "threads", 1, "intra-op threads for both runtimes (Sextant engine.Options.Threads, ORT intra_op_num_threads), pinned to the `N` highest-numbered allowed CPUs")
	fs.DurationVar(&o.peakTime, "peak-time", time.Millisecond, "time per FMA-peak repetition (300 repetitions per vector width, before and after the models)")
	fs.BoolVar(&o.tail, "tail", false, "measure tail latency instead: per runtime and model, --tail-reps series of --tail-runs consecutive runs alone on the pinned core (issue 3's p99 ≤ 2× p50 bar)")
	fs.IntVar(&o.tailRuns, "tail-runs", 10000, "runs per series with --tail")
	fs.IntVar(&o.tailReps, "tail-reps", 5, "series per runtime and model with --tail (medians are reported)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.threads < 1 || (o.threads > 1 && o.cpu >= 0) {
		return o, errors.New("--threads must be at least 1, and --cpu goes only with one thread")
	}
	o.cfg.Sets = peer.InputSets
	if models != "" {
		o.models = strings.Split(models, ",")
	}
	if o.dir == "" {
		for _, d := range []string{".", "bench"} {
			if _, err := os.Stat(filepath.Join(d, "models", "export.py")); err == nil {
				o.dir = d
				break
			}
		}
		if o.dir == "" {
			return o, errors.New("cannot find the bench directory: run from bench/ or pass --dir")
		}
	}
	if o.ortLib == "" {
		o.ortLib = peer.DefaultORTLib(o.dir)
	}
	return o, nil
}

func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	set := peer.Set()
	if o.models != nil {
		set = set[:0]
		for _, name := range o.models {
			m, ok := peer.Lookup(strings.TrimSpace(name))
			if !ok {
				return fmt.Errorf("unknown model %q", name)
			}
			set = append(set, m)
		}
	}
	if err := peer.InitORT(o.ortLib); err != nil {
		return err
	}
	cpus := []int{o.cpu}
	if o.threads == 1 {
		cpus[0], err = peer.Pin(o.cpu)
	} else {
		cpus, err = peer.PinN(o.threads)
	}
	if err != nil {
		return err
	}
	rep := newReport(cpus, o)
	rep.printHeader(stdout)
	if o.tail {
		rows, err := runTail(set, o, rep, stdout)
		if err != nil {
			return err
		}
		return writeJSON(o.jsonPath, struct {
			*report
			Tail []tailJSON `json:"tail"`
		}{rep, rows}, stdout)
	}

	// The peak is the best of many short repetitions, measured before and
	// after the models: on a loaded machine a long repetition is always
	// shared with other processes and understates the core.
	before, err := fma.Measure(o.peakTime, peakReps)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "FMA peak     %s (before the models)\n\n", describePeak(before))
	for _, m := range set {
		row, err := measure(m, o)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		rep.Models = append(rep.Models, row)
		fmt.Fprintf(os.Stderr, "compare: %s done\n", m.Name)
	}
	after, err := fma.Measure(o.peakTime, peakReps)
	if err != nil {
		return err
	}
	rep.setPeak(before, after)
	rep.LoadAvgEnd = loadavg()
	rep.printTable(stdout)
	return writeJSON(o.jsonPath, rep, stdout)
}

// writeJSON writes v as indented JSON to path, when path is not empty.
func writeJSON(path string, v any, stdout io.Writer) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", path)
	return nil
}

// peakReps is the number of FMA-peak repetitions per vector width.
const peakReps = 300

// describePeak formats a peak with the rate of every vector width.
func describePeak(p fma.Peak) string {
	s := p.String() + " ["
	for i, w := range []string{"ymm", "zmm"} {
		if r, ok := p.Rates[w]; ok {
			if i > 0 {
				s += ", "
			}
			s += fmt.Sprintf("%s %.1f", w, r/1e9)
		}
	}
	return s + "]"
}

// measure loads one model in both runtimes and times them.
func measure(m peer.Model, o options) (modelJSON, error) {
	row := modelJSON{Name: m.Name, Title: m.Title, FLOPs: m.FLOPs}
	data, err := m.Load(filepath.Join(o.dir, "models"))
	if err != nil {
		return row, err
	}
	ort, err := peer.NewORT(data, o.threads)
	if err != nil {
		return row, err
	}
	defer ort.Close()
	shapes := make([]peer.Shape, len(ort.Inputs))
	for i, in := range ort.Inputs {
		shapes[i] = in.Shape
	}
	sets, err := peer.MakeInputs(shapes, o.cfg.Sets)
	if err != nil {
		return row, err
	}
	if err := ort.Bind(sets); err != nil {
		return row, err
	}
	runORT := ort.RunSet

	sx, err := peer.NewSextant(data, o.threads)
	var ue *peer.UnsupportedError
	switch {
	case errors.As(err, &ue):
		// Time ORT alone so the row still has the peer's figures.
		row.Unsupported = ue.Error()
		_, st, err := peer.Alternate(func(int) error { return nil }, runORT, o.cfg)
		if err != nil {
			return row, err
		}
		row.ORT = &st
		return row, nil
	case err != nil:
		return row, err
	}
	runSextant := func(i int) error {
		_, err := sx.Run(sets[i])
		return err
	}
	q, info, err := peer.NewSextantInt8(data, o.threads)
	switch {
	case errors.Is(err, peer.ErrNotQuantizable):
		row.Int8NA = "n/a: no MatMul/Gemm with a constant weight"
	case err != nil:
		row.Int8NA = "n/a: " + err.Error()
	}
	if q == nil {
		ss, so, err := peer.Alternate(runSextant, runORT, o.cfg)
		if err != nil {
			return row, err
		}
		row.Sextant, row.ORT = &ss, &so
		row.Ratio = ss.P50US / so.P50US
		return row, nil
	}
	relErr, err := peer.RelMaxError(sx, q, sets)
	if err != nil {
		return row, fmt.Errorf("int8 accuracy: %w", err)
	}
	runInt8 := func(i int) error {
		_, err := q.Run(sets[i])
		return err
	}
	st, err := peer.AlternateN([]func(int) error{runSextant, runORT, runInt8}, o.cfg)
	if err != nil {
		return row, err
	}
	row.Sextant, row.ORT, row.Int8 = &st[0], &st[1], &st[2]
	row.Ratio = st[0].P50US / st[1].P50US
	row.Int8Speedup = st[0].P50US / st[2].P50US
	row.Int8WeightRatio = info.Ratio()
	row.Int8F32WeightBytes, row.Int8WeightBytes = info.F32WeightBytes, info.Int8WeightBytes
	row.Int8Products = info.Products
	row.Int8RelErr = relErr
	return row, nil
}
