package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/eval"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// evalFlags are eval's options.
type evalFlags struct {
	model, data, labels, task, baseline, gates, report, scores, output string
	metrics, profiles, slices                                          []string
	asJSON                                                             bool
	boot                                                               eval.Bootstrap
	eceBins, batch, chunk, candidates, iterations, warmup              int
	history                                                            eval.History
}

func newEvalCmd(e *env) *cobra.Command {
	f := &evalFlags{history: eval.DefaultHistory()}
	cmd := &cobra.Command{
		Use:   "eval --model M.sxm --data D.parquet|DIR",
		Short: "Evaluate a model on a data set, against a baseline, with gates",
		Long: `Scores every example of the data set (a Parquet file or a directory of .npy
files named after the model's inputs; labels in the --labels column), computes
the metrics on the whole set and on each --slice, with paired bootstrap
confidence intervals against the --baseline (another model, or the built-in
most-frequent, markov or column:NAME for ranking), measures latency, memory and
energy under each --profile, and checks the --gates YAML file.

--slice COL cuts by the distinct values of COL; --slice COL:E0,E1,... bins a
numeric column at those edges; len(COL) is the number of non-pad entries of a
sequence column. The built-in baselines read the candidate history from
--history-column (candidate indices, oldest first, --history-pad for empty
slots).

A Parquet table is read --chunk-rows rows at a time (rounded up to whole
batches): memory is a chunk plus a few numbers per example (what the
bootstrap resamples), not the table, and the numbers are those of the table
read whole.

Prints tables (or the JSON report with --json) and writes an HTML report with
--report. Exits with status 1 when a gate fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd, e, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "candidate model (.sxm or .onnx)")
	fl.StringVar(&f.data, "data", "", "data set: a .parquet file or a directory of .npy files")
	fl.StringVar(&f.labels, "labels", "label", "label column")
	fl.StringVar(&f.task, "task", "", "ranking, classification or regression (default: regression for float labels, else classification)")
	fl.StringVar(&f.baseline, "baseline", "", "baseline: a model file, most-frequent, markov or column:NAME")
	fl.StringVar(&f.gates, "gates", "", "gates YAML file")
	fl.StringVar(&f.report, "report", "", "write an HTML report here")
	fl.StringVar(&f.scores, "scores", "auto", "how model scores are read: auto, logits or probabilities")
	fl.StringVar(&f.output, "output", "", "the model output holding the scores (default: the first)")
	fl.StringSliceVar(&f.metrics, "metrics", nil, "metrics (default: the task's; gates add theirs)")
	fl.StringArrayVar(&f.profiles, "profile", nil, "device profile to measure under (built-in name or JSON file); repeatable")
	fl.StringArrayVar(&f.slices, "slice", nil, "slice by COL or COL:EDGES; repeatable")
	fl.BoolVar(&f.asJSON, "json", false, "print the JSON report")
	fl.IntVar(&f.boot.Replicates, "bootstrap", eval.DefaultReplicates, "bootstrap replicates B")
	fl.Float64Var(&f.boot.Confidence, "confidence", 0.95, "confidence level of the intervals")
	fl.Uint64Var(&f.boot.Seed, "seed", 1, "bootstrap seed")
	fl.IntVar(&f.eceBins, "ece-bins", eval.DefaultECEBins, "equal-width bins of ECE and the reliability diagram")
	fl.IntVar(&f.batch, "batch", 256, "examples per model run")
	fl.IntVar(&f.chunk, "chunk-rows", 0, "rows read at a time, rounded up to whole batches (default 2048); memory is about a chunk plus a few numbers per example")
	fl.StringVar(&f.history.Column, "history-column", f.history.Column, "built-in baselines: column of recent places as candidate indices, oldest first")
	fl.Float64Var(&f.history.Pad, "history-pad", f.history.Pad, "built-in baselines: padding value in the history column")
	fl.IntVar(&f.candidates, "candidates", 0, "built-in baselines: number of candidates K (default: the model's output width)")
	fl.IntVar(&f.iterations, "iterations", 200, "timed inferences per profile")
	fl.IntVar(&f.warmup, "warmup", 20, "untimed inferences per profile")
	return cmd
}

// evalModel is a model file opened for evaluation.
type evalModel struct {
	info  eval.ModelInfo
	model *engine.Model
	close func() error
}

// loadEvalGraph reads a model file's graph, with its manifest's name and
// version for a bundle.
func loadEvalGraph(path string) (*graph.Graph, eval.ModelInfo, func() error, error) {
	info := eval.ModelInfo{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Path: path, Kind: "model"}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".sxm":
		b, err := bundle.Open(path)
		if err != nil {
			return nil, info, nil, err
		}
		info.Name, info.Version = b.Manifest.Name, b.Manifest.Version
		return b.Graph, info, b.Close, nil
	case ".onnx":
		g, err := onnx.ReadFile(path)
		return g, info, func() error { return nil }, err
	}
	return nil, info, nil, fmt.Errorf("%s: unknown model format (want .sxm or .onnx)", path)
}

func openEvalModel(path string) (*evalModel, error) {
	g, info, closeFn, err := loadEvalGraph(path)
	if err != nil {
		return nil, err
	}
	m, err := engine.Compile(g, engine.Options{})
	if err != nil {
		closeFn()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &evalModel{info: info, model: m, close: closeFn}, nil
}

func runEval(cmd *cobra.Command, e *env, f *evalFlags) error {
	ctx := cmd.Context()
	if f.model == "" || f.data == "" {
		return fmt.Errorf("eval needs --model and --data")
	}
	// The data is read a chunk of rows at a time (eval.EvaluateSource):
	// its head gives the columns' types and the latency inputs.
	src, err := eval.OpenSource(f.data)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.N == 0 {
		return fmt.Errorf("eval: the data set has no examples")
	}
	d, err := src.Head(f.batch)
	if err != nil {
		return err
	}
	cfg := eval.Config{Labels: f.labels, ScoreKind: eval.ScoreKind(f.scores), Metrics: f.metrics,
		Bootstrap: f.boot, ECEBins: f.eceBins, BatchSize: f.batch, ChunkRows: f.chunk, Temperature: bundleTemperature(f.model)}
	switch cfg.ScoreKind {
	case eval.AutoScores, eval.Logits, eval.Probabilities:
	default:
		return fmt.Errorf("--scores %q: want auto, logits or probabilities", f.scores)
	}
	if cfg.Task, err = evalTask(f.task, d, f.labels); err != nil {
		return err
	}
	var gates *eval.Gates
	if f.gates != "" {
		if gates, err = eval.ReadGatesFile(f.gates); err != nil {
			return err
		}
		cfg.Slices = append(cfg.Slices, gates.Slices...)
		if len(cfg.Metrics) == 0 {
			cfg.Metrics = eval.DefaultMetrics(cfg.Task)
		}
		cfg.Metrics = append(cfg.Metrics, gates.Metrics()...)
	}
	for _, s := range f.slices {
		spec, err := eval.ParseSliceSpec(s)
		if err != nil {
			return err
		}
		cfg.Slices = append(cfg.Slices, spec)
	}
	profs := make([]*profile.Profile, len(f.profiles))
	for i, name := range f.profiles {
		if profs[i], err = profile.Load(name); err != nil {
			return err
		}
	}

	cand, err := openEvalModel(f.model)
	if err != nil {
		return err
	}
	defer cand.close()
	cp, err := eval.NewModelPredictor(cand.info.Name, cand.model, d, f.output)
	if err != nil {
		return err
	}
	var (
		bp       eval.Predictor
		baseInfo *eval.ModelInfo
	)
	switch {
	case f.baseline == "":
	case strings.HasSuffix(f.baseline, ".sxm") || strings.HasSuffix(f.baseline, ".onnx"):
		base, err := openEvalModel(f.baseline)
		if err != nil {
			return err
		}
		defer base.close()
		if bp, err = eval.NewModelPredictor(base.info.Name, base.model, d, f.output); err != nil {
			return err
		}
		baseInfo = &base.info
	default:
		h := f.history
		h.Candidates = f.candidates
		if h.Candidates == 0 {
			h.Candidates = outputWidth(cand.model, f.output)
		}
		if bp, err = eval.NewBaseline(f.baseline, h); err != nil {
			return err
		}
	}

	rep, err := eval.EvaluateSource(ctx, src, cp, bp, cfg)
	if err != nil {
		return err
	}
	rep.Model = cand.info
	if baseInfo != nil {
		rep.Baseline = baseInfo
	}
	for _, p := range profs {
		res, err := measureEvalProfile(ctx, f, src, p)
		if err != nil {
			return err
		}
		rep.Profiles = append(rep.Profiles, res)
	}
	if gates != nil {
		gates.Check(rep)
	}
	if f.report != "" {
		if err := writeHTMLReport(f.report, rep); err != nil {
			return err
		}
	}
	if f.asJSON {
		if err := rep.WriteJSON(e.stdout); err != nil {
			return err
		}
		if !rep.Pass {
			rep.WriteGates(e.stderr)
		}
	} else if err := rep.WriteText(e.stdout); err != nil {
		return err
	}
	if !rep.Pass {
		failed := 0
		for _, g := range rep.Gates {
			if !g.Pass {
				failed++
			}
		}
		return &exitError{code: 1, msg: fmt.Sprintf("%d gate checks failed", failed)}
	}
	return nil
}

// measureEvalProfile compiles a fresh copy of the candidate under p (the
// engine takes ownership of the graph it compiles) and measures it on the
// data's first rows: as many as it cycles through (the timed and warm-up
// inferences, plus a fixed batch), so its inputs are those of the whole
// data set.
func measureEvalProfile(ctx context.Context, f *evalFlags, src *eval.Source, p *profile.Profile) (eval.ProfileResult, error) {
	g, _, closeFn, err := loadEvalGraph(f.model)
	if err != nil {
		return eval.ProfileResult{}, err
	}
	defer closeFn()
	rows := max(f.iterations, f.warmup, 200, 20)
	for _, in := range g.Inputs {
		if in.Type.Known && len(in.Type.Shape) > 0 && in.Type.Shape[0].IsFixed() {
			rows += int(in.Type.Shape[0].Size)
			break
		}
	}
	rows++ // a batch of one past the last timed example
	d, err := src.Head(rows)
	if err != nil {
		return eval.ProfileResult{}, err
	}
	return eval.MeasureProfile(ctx, g, d, p, eval.BenchConfig{Iterations: f.iterations, Warmup: f.warmup, Output: f.output})
}

func writeHTMLReport(path string, rep *eval.Report) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// evalTask parses --task, or picks regression for float labels and
// classification otherwise.
func evalTask(name string, d *dataset.Dataset, labels string) (eval.Task, error) {
	if name != "" {
		return eval.ParseTask(name)
	}
	t, ok := d.Column(labels)
	if !ok {
		return "", fmt.Errorf("no label column %q (columns: %v); set --labels", labels, d.Columns())
	}
	if t.DType == tensor.Float32 || t.DType == tensor.Float64 || t.DType == tensor.Float16 || t.DType == tensor.BFloat16 {
		return eval.Regression, nil
	}
	return eval.Classification, nil
}

// outputWidth is the per-example size of the scores output when the graph
// fixes it, else 0.
func outputWidth(m *engine.Model, output string) int {
	for i, v := range m.Graph().Outputs {
		if (output == "" && i == 0) || v.Name == output {
			if !v.Type.Known || len(v.Type.Shape) == 0 {
				return 0
			}
			w := 1
			for _, d := range v.Type.Shape[1:] {
				if !d.IsFixed() {
					return 0
				}
				w *= int(d.Size)
			}
			return w
		}
	}
	return 0
}
