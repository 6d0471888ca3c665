package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// writeLinear writes a bundle computing y = x·w + b for x of shape
// [batch, len(w)].
func writeLinear(t *testing.T, path, name string, w []float32, bias float32) {
	t.Helper()
	b := graph.NewBuilder(name, 17)
	b.Input("x", tensor.Float32, "batch", len(w))
	b.Initializer("w", tensor.From(w, len(w), 1))
	b.Initializer("b", tensor.From([]float32{bias}, 1))
	b.Output(b.Op("Add", nil, b.Op("MatMul", nil, "x", "w"), "b"))
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: name, Version: "1.0.0", Signature: bundle.SignatureOf(g)}
	if err := bundle.WriteFile(path, g, m); err != nil {
		t.Fatal(err)
	}
}

type evalRow struct {
	X      []float32 `parquet:"x,list"`
	Label  float64   `parquet:"label"`
	Region string    `parquet:"region"`
	Hour   int64     `parquet:"hour"`
}

// evalFixture writes a candidate (the true weights), a perturbed baseline,
// and the same 600 examples as .npy files and as Parquet.
func evalFixture(t *testing.T) (dir, cand, base, npyDir, pq string) {
	t.Helper()
	dir = t.TempDir()
	w := []float32{1, -2, 0.5}
	cand, base = filepath.Join(dir, "cand.sxm"), filepath.Join(dir, "base.sxm")
	writeLinear(t, cand, "eta-small", w, 3)
	writeLinear(t, base, "eta-old", []float32{1.3, -1.6, 0.2}, 3.5)
	const n = 600
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 3*n)
	label := make([]float64, n)
	region := make([]string, n)
	hour := make([]int64, n)
	rows := make([]evalRow, n)
	for i := range n {
		for j := range 3 {
			x[3*i+j] = float32(rng.NormFloat64())
		}
		y := 3.0
		for j := range 3 {
			y += float64(w[j] * x[3*i+j])
		}
		label[i] = y + 0.1*rng.NormFloat64()
		region[i] = []string{"north", "south"}[i%2]
		hour[i] = int64(rng.IntN(24))
		rows[i] = evalRow{X: x[3*i : 3*i+3], Label: label[i], Region: region[i], Hour: hour[i]}
	}
	npyDir = filepath.Join(dir, "npy")
	if err := os.Mkdir(npyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]*tensor.Tensor{
		"x": tensor.From(x, n, 3), "label": tensor.From(label, n), "hour": tensor.From(hour, n),
	} {
		if err := tensor.WriteNPYFile(filepath.Join(npyDir, name+".npy"), tt); err != nil {
			t.Fatal(err)
		}
	}
	pq = filepath.Join(dir, "d.parquet")
	f, err := os.Create(pq)
	if err != nil {
		t.Fatal(err)
	}
	pw := parquet.NewGenericWriter[evalRow](f)
	if _, err := pw.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return dir, cand, base, npyDir, pq
}

func TestEvalRegressionEndToEnd(t *testing.T) {
	dir, cand, base, npyDir, pq := evalFixture(t)
	gates := filepath.Join(dir, "gates.yaml")
	os.WriteFile(gates, []byte(`
slices:
  - column: hour
    edges: [12]
gates:
  - metric: mae
    max_drop: 0.0
    slices: all
    min_examples: 100
  - metric: rmse
    max: 0.2
  - metric: arena_bytes
    max: 1000000
`), 0o644)
	report := filepath.Join(dir, "r.html")
	out, err := sextant(t, "eval", "--model", cand, "--data", pq, "--baseline", base, "--gates", gates,
		"--slice", "region", "--profile", "phone-mid", "--report", report, "--json",
		"--bootstrap", "200", "--iterations", "30", "--warmup", "3")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Schema string `json:"schema"`
		Task   string `json:"task"`
		Model  struct{ Name, Version string }
		Data   struct{ Examples int }
		Slices []struct {
			Key      string
			Examples int
			Metrics  map[string]struct {
				Candidate float64
				Baseline  *float64
				Diff      *float64
				DiffCI    *struct{ Lo, Hi float64 } `json:"diff_ci"`
			}
		}
		Profiles []struct {
			Profile      string
			ArenaBytes   int64                 `json:"arena_bytes"`
			WeightBytes  int64                 `json:"weight_bytes"`
			Energy       float64               `json:"energy_joules"`
			WithinBudget bool                  `json:"within_budget"`
			Latency      struct{ P95 float64 } `json:"latency_us"`
		}
		Gates []struct {
			Slice string
			Pass  bool
		}
		Pass bool
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Schema != "sextant.eval/v1" || rep.Task != "regression" || rep.Model.Name != "eta-small" || rep.Data.Examples != 600 || !rep.Pass {
		t.Fatalf("report header %+v", rep)
	}
	keys := map[string]int{}
	for _, s := range rep.Slices {
		keys[s.Key] = s.Examples
		mae := s.Metrics["mae"]
		// The candidate has the true weights: MAE ≈ 0.08 (noise σ 0.1); the
		// perturbed baseline is far worse, on every slice.
		if mae.Candidate > 0.12 || mae.Baseline == nil || *mae.Diff >= -0.2 || mae.DiffCI.Hi >= 0 {
			t.Errorf("slice %s mae %+v", s.Key, mae)
		}
	}
	if keys["all"] != 600 || keys["region=north"] != 300 || keys["region=south"] != 300 || keys["hour=(-inf,12)"]+keys["hour=[12,inf)"] != 600 {
		t.Errorf("slices %v", keys)
	}
	if len(rep.Profiles) != 1 || rep.Profiles[0].WeightBytes != 16 || rep.Profiles[0].Latency.P95 <= 0 || rep.Profiles[0].Energy <= 0 {
		t.Errorf("profiles %+v", rep.Profiles)
	}
	if len(rep.Gates) != 5+1+1 {
		t.Errorf("gates %+v", rep.Gates)
	}
	checkHTMLReport(t, report, 4+1)

	// The same examples from .npy files give the same metrics.
	out2, err := sextant(t, "eval", "--model", cand, "--data", npyDir, "--baseline", base, "--json", "--bootstrap", "50")
	if err != nil {
		t.Fatal(err)
	}
	var rep2 struct {
		Slices []struct {
			Metrics map[string]struct{ Candidate float64 }
		}
	}
	json.Unmarshal([]byte(out2), &rep2)
	if got, want := rep2.Slices[0].Metrics["rmse"].Candidate, rep.Slices[0].Metrics["rmse"].Candidate; got != want {
		t.Errorf("rmse from npy %v, from parquet %v", got, want)
	}

	// A failing gate: exit status 1 and a readable table.
	os.WriteFile(gates, []byte("- {metric: mae, max: 0.01}\n"), 0o644)
	out, err = sextant(t, "eval", "--model", cand, "--data", pq, "--gates", gates, "--bootstrap", "50")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("failing gate: err %v", err)
	}
	for _, want := range []string{"mae max 0.01", "FAIL", "1 of 1 gate checks failed", "candidate"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// checkHTMLReport parses the report as XML (it is written in XHTML syntax)
// and counts its plots.
func checkHTMLReport(t *testing.T, path string, minSVG int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	dec.Strict = true
	svgs, circles, depth := 0, 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report is not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			switch tok.Name.Local {
			case "svg":
				svgs++
			case "circle":
				circles++
			}
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 || svgs < minSVG || circles == 0 {
		t.Errorf("report: depth %d, %d svg (want ≥ %d), %d circles", depth, svgs, minSVG, circles)
	}
}

func TestEvalRankingWithMarkov(t *testing.T) {
	// A "model" that ranks candidates by a feature column (visit counts);
	// the history column drives the Markov baseline.
	dir := t.TempDir()
	const k, n, l = 4, 400, 6
	b := graph.NewBuilder("nd", 17)
	b.Input("visits", tensor.Float32, "batch", k)
	b.Initializer("scale", tensor.From([]float32{1}, 1))
	b.Output(b.Op("Mul", nil, "visits", "scale"))
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "nd.sxm")
	if err := bundle.WriteFile(model, g, &bundle.Manifest{Name: "next-destination", Version: "0.1.0", Signature: bundle.SignatureOf(g)}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	visits := make([]float32, n*k)
	hist := make([]int64, n*l)
	label := make([]int64, n)
	for i := range n {
		for j := range k {
			visits[i*k+j] = float32(rng.IntN(10))
		}
		for j := range l {
			hist[i*l+j] = int64(rng.IntN(k+1)) - 1
		}
		label[i] = int64(rng.IntN(k))
		if rng.Float64() < 0.6 { // the most visited candidate is often next
			best := 0
			for j := range k {
				if visits[i*k+j] > visits[i*k+best] {
					best = j
				}
			}
			label[i] = int64(best)
		}
	}
	data := filepath.Join(dir, "npy")
	os.Mkdir(data, 0o755)
	tensor.WriteNPYFile(filepath.Join(data, "visits.npy"), tensor.From(visits, n, k))
	tensor.WriteNPYFile(filepath.Join(data, "history.npy"), tensor.From(hist, n, l))
	tensor.WriteNPYFile(filepath.Join(data, "label.npy"), tensor.From(label, n))
	report := filepath.Join(dir, "r.html")
	out, err := sextant(t, "eval", "--model", model, "--data", data, "--task", "ranking", "--baseline", "markov",
		"--slice", "len(history):3", "--report", report, "--json", "--bootstrap", "100")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Scores   string
		Baseline struct{ Name, Kind string }
		Slices   []struct {
			Key     string
			Metrics map[string]struct {
				Candidate float64
				Diff      *float64
			}
		}
		Calibration struct{ Candidate, Baseline []struct{ Count int } }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Baseline.Name != "markov" || rep.Baseline.Kind != "builtin" || rep.Scores != "logits" || len(rep.Slices) != 3 {
		t.Fatalf("report %+v", rep)
	}
	all := rep.Slices[0].Metrics
	for _, m := range []string{"acc@1", "acc@5", "mrr", "ndcg@5", "log-loss", "ece"} {
		if _, ok := all[m]; !ok {
			t.Errorf("no %s", m)
		}
	}
	// The candidate sees the signal, the random histories carry none.
	if all["acc@1"].Candidate < 0.55 || *all["acc@1"].Diff < 0.15 || all["acc@5"].Candidate != 1 {
		t.Errorf("acc@1 %+v acc@5 %+v", all["acc@1"], all["acc@5"])
	}
	if len(rep.Calibration.Candidate) != 15 || len(rep.Calibration.Baseline) != 15 {
		t.Errorf("calibration %+v", rep.Calibration)
	}
	checkHTMLReport(t, report, 6+1)
}
