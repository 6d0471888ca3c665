package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/eval"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/models/flagship"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train/arch"
)

// writeFlagship writes an untrained flagship model (random weights) as a
// bundle.
func writeFlagship(t *testing.T, dir, name string, build func(arch.Spec) (*arch.Model, error), seed uint64) string {
	t.Helper()
	m, err := build(arch.Spec{Rand: rand.New(rand.NewPCG(seed, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Infer(m.Graph, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".sxm")
	if err := bundle.WriteFile(path, m.Graph, &bundle.Manifest{Name: name, Version: "1.0.0", Signature: bundle.SignatureOf(m.Graph)}); err != nil {
		t.Fatal(err)
	}
	return path
}

// compiled opens and compiles a bundle (kept open: the model reads its
// tensors).
func compiled(t *testing.T, path string) *engine.Model {
	t.Helper()
	b, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	m, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEvalCommandsStreamLikeWholeTable: on a small generated population's
// held-out tables, eval, predictability and calibrate — reading the
// tables in chunks of a few dozen rows, which split users and runs of
// batches — print and write exactly what the whole-table computations
// they replaced give (eval.Evaluate on the table read whole; the
// per-user bound with TopOneHits and Summarize; the temperature and the
// deferral head fitted on every example at once).
func TestEvalCommandsStreamLikeWholeTable(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a population")
	}
	ctx := context.Background()
	dir := t.TempDir()
	mob := filepath.Join(dir, "mob")
	runCLI(t, "data", "generate", "--users", "12", "--weeks", "2", "--seed", "3", "--city", filepath.Join("..", "..", defaultCity), "-o", mob, "-q")
	for _, kind := range []string{"next-destination", "eta"} {
		runCLI(t, "data", "features", "--kind", kind, "--in", mob, "-o", filepath.Join(dir, kind), "--holdout-weeks", "1")
	}
	ndTest, etaTest := filepath.Join(dir, "next-destination", "test.parquet"), filepath.Join(dir, "eta", "test.parquet")
	nd := writeFlagship(t, dir, "nd", flagship.NextDestination, 1)
	d, err := dataset.Read(ndTest)
	if err != nil {
		t.Fatal(err)
	}
	const batch, chunk = 16, 40 // chunks of 48 rows
	if d.N < 3*48 {
		t.Fatalf("%d held-out rows: too few to stream in chunks", d.N)
	}
	bs, cs := strconv.Itoa(batch), strconv.Itoa(chunk)
	ndModel := compiled(t, nd)

	// eval: the report's numbers.
	out, err := sextant(t, "eval", "--model", nd, "--data", ndTest, "--task", "ranking", "--baseline", "markov",
		"--slice", "len(history)", "--slice", "hour_of_week:24,72", "--bootstrap", "50", "--batch", bs, "--chunk-rows", cs, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got eval.Report
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	cand, err := eval.NewModelPredictor("nd", ndModel, d, "")
	if err != nil {
		t.Fatal(err)
	}
	markov, err := eval.NewBaseline("markov", eval.History{Column: "history", Pad: -1, Candidates: outputWidth(ndModel, "")})
	if err != nil {
		t.Fatal(err)
	}
	want, err := eval.Evaluate(ctx, d, cand, markov, eval.Config{Task: eval.Ranking, Labels: "label", BatchSize: batch,
		Bootstrap: eval.Bootstrap{Replicates: 50, Confidence: 0.95, Seed: 1},
		Slices:    []eval.SliceSpec{{Column: "len(history)"}, {Column: "hour_of_week", Edges: []float64{24, 72}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Slices) < 3 {
		t.Fatalf("only %d slices", len(want.Slices))
	}
	for name, pair := range map[string][2]any{"scores": {got.Scores, want.Scores}, "examples": {got.Data.Examples, want.Data.Examples},
		"slices": {got.Slices, want.Slices}, "calibration": {got.Calibration, want.Calibration}, "risk-coverage": {got.RiskCoverage, want.RiskCoverage}} {
		g, _ := json.Marshal(pair[0])
		w, _ := json.Marshal(pair[1])
		if string(g) != string(w) {
			t.Errorf("eval %s streamed:\n%.600s\nwhole table:\n%.600s", name, g, w)
		}
	}

	// predictability: every user's bound and Acc@1.
	out, err = sextant(t, "predictability", "--data", ndTest, "--model", nd, "--batch", bs, "--chunk-rows", cs, "--json", "--per-user")
	if err != nil {
		t.Fatal(err)
	}
	per, err := eval.UserPredictability(d, "user_id", "next_place")
	if err != nil {
		t.Fatal(err)
	}
	hits, err := eval.TopOneHits(ctx, cand, d, "label", batch)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := json.MarshalIndent(eval.Summarize(per, hits), "", "  ")
	if out != string(w)+"\n" {
		t.Errorf("predictability streamed:\n%.600s\nwhole table:\n%.600s", out, w)
	}

	// calibrate: the temperature and the threshold.
	cal := filepath.Join(dir, "nd-cal.sxm")
	if _, err := sextant(t, "calibrate", "--model", nd, "--data", ndTest, "--batch", bs, "--chunk-rows", cs, "-o", cal); err != nil {
		t.Fatal(err)
	}
	scores, err := eval.PredictAll(ctx, cand, d, batch)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := eval.Labels(d, "label")
	if err != nil {
		t.Fatal(err)
	}
	fit, err := eval.FitTemperature(scores, labels)
	if err != nil {
		t.Fatal(err)
	}
	conf := make([]float64, scores.Len())
	for i := range conf {
		if conf[i], err = router.Confidence(tensor.From(append([]float64(nil), scores.Row(i)...), 1, scores.Width), fit.Temperature, router.MaxProb); err != nil {
			t.Fatal(err)
		}
	}
	threshold, err := eval.ThresholdForRate(conf, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	checkCalibration(t, cal, fit.Temperature, threshold)

	// calibrate --server: the deferral head's threshold.
	small, server := writeFlagship(t, dir, "eta-small", flagship.ETASmall, 2), writeFlagship(t, dir, "eta-server", flagship.ETAServer, 3)
	etaCal := filepath.Join(dir, "eta-cal.sxm")
	if _, err := sextant(t, "calibrate", "--model", small, "--server", server, "--data", etaTest, "--target-escalation", "0.05",
		"--batch", bs, "--chunk-rows", cs, "-o", etaCal); err != nil {
		t.Fatal(err)
	}
	e, err := dataset.Read(etaTest)
	if err != nil {
		t.Fatal(err)
	}
	etas := func(path string) []float64 {
		p, err := eval.NewModelPredictor(path, compiled(t, path), e, "eta_s")
		if err != nil {
			t.Fatal(err)
		}
		s, err := eval.PredictAll(ctx, p, e, batch)
		if err != nil {
			t.Fatal(err)
		}
		return s.Values
	}
	se, ve := etas(small), etas(server)
	rt, err := e.As("route", tensor.Float32, nil)
	if err != nil {
		t.Fatal(err)
	}
	width := rt.Len() / e.N
	route := tensor.Data[float32](rt)
	head, err := flagship.FitDeferral(route, width, se, ve, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	conf = make([]float64, e.N)
	for i := range conf {
		conf[i] = head.Confidence(route[i*width:(i+1)*width], se[i])
	}
	if threshold, err = eval.ThresholdForRate(conf, 0.05); err != nil {
		t.Fatal(err)
	}
	checkCalibration(t, etaCal, 0, threshold)
}

// checkCalibration compares a calibrated bundle's temperature and
// cascade threshold with the whole-table fit's.
func checkCalibration(t *testing.T, path string, temperature, threshold float64) {
	t.Helper()
	b, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := b.Manifest.Calibration
	if c == nil || c.Temperature != temperature || c.CascadeThreshold != threshold {
		t.Errorf("%s: calibration %+v streamed, whole table temperature %v threshold %v", filepath.Base(path), c, temperature, threshold)
	}
}
