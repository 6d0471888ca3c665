package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/eval"
	"github.com/sextant-ml/sextant/models/flagship"
	"github.com/sextant-ml/sextant/tensor"
)

// calibrateFlags are calibrate's options.
type calibrateFlags struct {
	model, data, labels, logits, measure, version, out string
	server                                             string
	target                                             float64
	batch, chunk                                       int
}

func newCalibrateCmd(e *env) *cobra.Command {
	f := &calibrateFlags{}
	cmd := &cobra.Command{
		Use:   "calibrate --model M.sxm --data D.parquet|DIR -o OUT.sxm",
		Short: "Fit temperature scaling and the cascade threshold on held-out data",
		Long: `Runs the model on held-out data, fits the temperature T that minimizes the
negative log-likelihood of the labels under softmax(logits / T) (temperature
scaling: Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural
Networks", ICML 2017), then picks the cascade threshold: the calibrated
confidence (--measure, as the device router computes it) below which
--target-escalation of the held-out examples fall, so a cascade escalates
about that share of requests to the server model. Both go into the bundle
manifest's calibration (temperature, cascade_threshold); the graph and
tensors are copied unchanged. The data must not be the training data.

With --server, the model is a regressor paired with that server model (the
flagship ETA pair: inputs "route" and "free_flow_s", output "eta_s"): no
temperature is fitted; instead the deferral head (models/flagship) is
fitted on the two models' outputs over the data — no labels needed — and
added as the output "confidence", which the device router reads as the
cascade's confidence, and the threshold is chosen on it.

A Parquet table is read --chunk-rows rows at a time: what is kept is a few
numbers per example (with temperature scaling, the logits), not the table.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCalibrate(cmd, e, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model bundle (.sxm)")
	fl.StringVar(&f.data, "data", "", "held-out data: a .parquet file or a directory of .npy files")
	fl.StringVar(&f.labels, "labels", "label", "label column (class indices)")
	fl.StringVar(&f.logits, "logits", "", "the model output holding the logits (default: the manifest's first output)")
	fl.StringVar(&f.measure, "measure", "max-prob", "cascade confidence: max-prob, margin or entropy")
	fl.Float64Var(&f.target, "target-escalation", 0.1, "share of requests the cascade should send to the server, in [0, 1]")
	fl.StringVar(&f.version, "version", "", "version of the written bundle (default: unchanged); the input's becomes its parent")
	fl.StringVarP(&f.out, "output", "o", "", "bundle to write")
	fl.IntVar(&f.batch, "batch", 256, "examples per model run")
	fl.IntVar(&f.chunk, "chunk-rows", 0, "rows read at a time, rounded up to whole batches (default 2048)")
	fl.StringVar(&f.server, "server", "", "regression: the server model (.sxm) to fit the deferral head against")
	return cmd
}

// parseMeasure reads a router confidence measure by its String name.
func parseMeasure(s string) (router.Measure, error) {
	for _, m := range []router.Measure{router.MaxProb, router.Margin, router.Entropy} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("--measure %q: want max-prob, margin or entropy", s)
}

func runCalibrate(cmd *cobra.Command, e *env, f *calibrateFlags) error {
	if f.model == "" || f.data == "" || f.out == "" {
		return fmt.Errorf("calibrate needs --model, --data and -o")
	}
	if !strings.EqualFold(filepath.Ext(f.model), ".sxm") {
		return fmt.Errorf("%s: calibrate reads and writes bundles (.sxm)", f.model)
	}
	measure, err := parseMeasure(f.measure)
	if err != nil {
		return err
	}
	if !(f.target >= 0 && f.target <= 1) {
		return fmt.Errorf("--target-escalation %v is outside [0, 1]", f.target)
	}
	b, err := bundle.Open(f.model)
	if err != nil {
		return err
	}
	defer b.Close()
	// The engine takes ownership of the graph it compiles: compile a second
	// copy and keep b.Graph for writing.
	run, err := bundle.Open(f.model)
	if err != nil {
		return err
	}
	defer run.Close()
	m, err := engine.Compile(run.Graph, engine.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", f.model, err)
	}
	// The data is read a chunk of rows at a time; what is kept is a few
	// numbers per example (the temperature's fit keeps the logits).
	src, err := eval.OpenSource(f.data)
	if err != nil {
		return err
	}
	defer src.Close()
	head, err := src.Head(1)
	if err != nil {
		return err
	}
	if f.server != "" {
		return calibrateDeferral(cmd, e, f, b, m, src, head)
	}
	if _, err := eval.Labels(head, f.labels); err != nil {
		return err
	}
	output := f.logits
	if output == "" && len(b.Manifest.Signature.Outputs) > 0 {
		output = b.Manifest.Signature.Outputs[0].Name
	}
	p, err := eval.NewModelPredictor(b.Manifest.Name, m, head, output)
	if err != nil {
		return err
	}
	var (
		scores eval.Scores
		labels []float64
	)
	err = src.Each(cmd.Context(), f.chunk, f.batch, nil, func(_ int, d *dataset.Dataset) error {
		l, err := eval.Labels(d, f.labels)
		if err != nil {
			return err
		}
		s, err := eval.PredictChunk(cmd.Context(), p, d, f.batch)
		if err != nil {
			return err
		}
		labels = append(labels, l...)
		scores.Width = s.Width
		scores.Values = append(scores.Values, s.Values...)
		return nil
	})
	if err != nil {
		return err
	}
	fit, err := eval.FitTemperature(scores, labels)
	if err != nil {
		return err
	}
	conf := make([]float64, scores.Len())
	for i := range conf {
		row := tensor.From(append([]float64(nil), scores.Row(i)...), 1, scores.Width)
		if conf[i], err = router.Confidence(row, fit.Temperature, measure); err != nil {
			return fmt.Errorf("example %d: %w", i, err)
		}
	}
	threshold, err := eval.ThresholdForRate(conf, f.target)
	if err != nil {
		return err
	}
	escalated := 0
	for _, c := range conf {
		if c < threshold {
			escalated++
		}
	}

	man := *b.Manifest
	cal := bundle.Calibration{}
	if man.Calibration != nil {
		cal = *man.Calibration
	}
	cal.Temperature, cal.CascadeThreshold = fit.Temperature, threshold
	man.Calibration = &cal
	if err := writeCalibrated(f, b, &man); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s %s: %d held-out examples, output %q\n", man.Name, man.Version, len(labels), output)
	fmt.Fprintf(e.stdout, "temperature  %.4f   (NLL %.4f → %.4f)\n", fit.Temperature, fit.NLLBefore, fit.NLLAfter)
	fmt.Fprintf(e.stdout, "threshold    %.4f   (%s; %d of %d = %.1f%% below it, target %.1f%%)\n",
		threshold, measure, escalated, len(conf), 100*float64(escalated)/float64(len(conf)), 100*f.target)
	fmt.Fprintf(e.stdout, "wrote %s\n", f.out)
	return nil
}

// writeCalibrated writes b's graph with manifest man (and --version) to
// --output.
func writeCalibrated(f *calibrateFlags, b *bundle.Bundle, man *bundle.Manifest) error {
	if f.version != "" && f.version != man.Version {
		man.ParentVersion, man.Version = man.Version, f.version
	}
	man.Ops = bundle.OpsUsed(b.Graph)
	return bundle.WriteFile(f.out, b.Graph, man, b.Extras()...)
}

// calibrateDeferral fits the flagship ETA deferral head of the model m
// (compiled from a copy of b) against --server on src, adds it to b's
// graph as the output "confidence" and sets the cascade threshold for
// --target-escalation. It reads src twice a chunk at a time: the models'
// ETAs and the fit's normal equations, then the head's confidence; what
// it keeps is a few numbers per trip. first is src's first row.
func calibrateDeferral(cmd *cobra.Command, e *env, f *calibrateFlags, b *bundle.Bundle, m *engine.Model, src *eval.Source, first *dataset.Dataset) error {
	ctx := cmd.Context()
	srv, err := openEvalModel(f.server)
	if err != nil {
		return err
	}
	defer srv.close()
	col, ok := first.Column("route")
	if !ok {
		return fmt.Errorf("%s: no column \"route\" (make it with sextant data features --kind eta)", f.data)
	}
	width := dataset.Width(col)
	predictors := make([]eval.Predictor, 2)
	for i, mm := range []struct {
		name string
		m    *engine.Model
	}{{b.Manifest.Name, m}, {srv.info.Name, srv.model}} {
		if predictors[i], err = eval.NewModelPredictor(mm.name, mm.m, first, "eta_s"); err != nil {
			return err
		}
	}
	route := func(d *dataset.Dataset) ([]float32, error) {
		rt, err := d.As("route", tensor.Float32, []int{width})
		if err != nil {
			return nil, err
		}
		return tensor.Data[float32](rt), nil
	}
	var small, server []float64
	fitter := flagship.NewDeferralFitter(width)
	err = src.Each(ctx, f.chunk, f.batch, nil, func(_ int, d *dataset.Dataset) error {
		var etas [2][]float64
		for i, p := range predictors {
			s, err := eval.PredictChunk(ctx, p, d, f.batch)
			if err != nil {
				return err
			}
			if s.Width != 1 {
				return fmt.Errorf("%s: eta_s has %d values per example, want 1", p.Name(), s.Width)
			}
			etas[i] = s.Values
		}
		rt, err := route(d)
		if err != nil {
			return err
		}
		if err := fitter.Add(rt, etas[0], etas[1]); err != nil {
			return err
		}
		small, server = append(small, etas[0]...), append(server, etas[1]...)
		return nil
	})
	if err != nil {
		return err
	}
	if len(small) == 0 {
		return fmt.Errorf("%s: no held-out examples", f.data)
	}
	head, err := fitter.Fit(1e-3)
	if err != nil {
		return err
	}
	// The confidence of every trip, and its label when the data has one.
	conf := make([]float64, 0, len(small))
	var labels []float64
	_, labelErr := eval.Labels(first, f.labels)
	cols := []string{"route"}
	if labelErr == nil {
		cols = append(cols, f.labels)
	}
	err = src.Each(ctx, f.chunk, f.batch, cols, func(lo int, d *dataset.Dataset) error {
		rt, err := route(d)
		if err != nil {
			return err
		}
		for i := range d.N {
			conf = append(conf, head.Confidence(rt[i*width:(i+1)*width], small[lo+i]))
		}
		if labelErr == nil {
			l, err := eval.Labels(d, f.labels)
			if err != nil { // no MAE without every label
				labelErr, labels = err, nil
			}
			labels = append(labels, l...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	threshold, err := eval.ThresholdForRate(conf, f.target)
	if err != nil {
		return err
	}
	if err := head.AddTo(b.Graph); err != nil {
		return err
	}
	man := *b.Manifest
	sig := bundle.SignatureOf(b.Graph)
	man.Signature.Outputs = append(append([]bundle.Output(nil), man.Signature.Outputs...), sig.Outputs[len(sig.Outputs)-1])
	cal := bundle.Calibration{}
	if man.Calibration != nil {
		cal = *man.Calibration
	}
	cal.CascadeThreshold = threshold
	man.Calibration = &cal
	if err := writeCalibrated(f, b, &man); err != nil {
		return err
	}
	// What escalating at this threshold buys on the same data.
	escalated, mixed := 0, make([]float64, len(small))
	for i, c := range conf {
		mixed[i] = small[i]
		if c < threshold {
			escalated++
			mixed[i] = server[i]
		}
	}
	fmt.Fprintf(e.stdout, "%s %s: %d held-out examples, deferral head against %s\n", man.Name, man.Version, len(small), srv.info.Name)
	fmt.Fprintf(e.stdout, "threshold    %.4f   (score; %d of %d = %.1f%% below it, target %.1f%%)\n",
		threshold, escalated, len(conf), 100*float64(escalated)/float64(len(conf)), 100*f.target)
	if labels != nil {
		mae := func(p []float64) float64 {
			s := 0.0
			for i, v := range p {
				s += math.Abs(v - labels[i])
			}
			return s / float64(len(p))
		}
		fmt.Fprintf(e.stdout, "MAE          device %.3f, server %.3f, cascade %.3f (%s)\n", mae(small), mae(server), mae(mixed), f.labels)
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", f.out)
	return nil
}

// bundleTemperature is a bundle's calibration temperature, 0 when it has
// none or the file is not a bundle.
func bundleTemperature(path string) float64 {
	if !strings.EqualFold(filepath.Ext(path), ".sxm") {
		return 0
	}
	b, err := bundle.Open(path)
	if err != nil {
		return 0
	}
	defer b.Close()
	if c := b.Manifest.Calibration; c != nil {
		return c.Temperature
	}
	return 0
}
