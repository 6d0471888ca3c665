package health

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/tensor"
)

func TestRecorderReport(t *testing.T) {
	r := NewRecorder()
	for i := range 100 {
		r.Inference("eta", "2.0.0", time.Duration(i)*time.Millisecond, i%10 == 0)
	}
	r.Load("eta", "2.0.0", false)
	r.Load("eta", "2.0.0", true)
	r.Memory("eta", "2.0.0", 3<<20+1)
	r.Memory("eta", "2.0.0", 1<<20)
	r.Session("eta", "2.0.0", true)
	r.Outcome("next", "1.0.0", true)
	r.Outcome("next", "1.0.0", false)
	h := Histograms{"speed": {Edges: []float64{0, 10}, Proportions: []float64{0.2, 0.5, 0.3}}}
	in := tensor.From([]float32{-1, 0, 5, 10, 20}, 5)
	r.ObserveInputs("eta", "2.0.0", h, map[string]*tensor.Tensor{"speed": in})

	rep := r.Take()
	if r.Take() != nil {
		t.Fatal("Take did not start afresh")
	}
	if err := rep.Validate(Registry()); err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 2 || rep.Entries[0].Model != "eta" {
		t.Fatalf("entries %+v", rep.Entries)
	}
	e := rep.Entries[0]
	var lat int64
	for _, c := range e.Latency {
		lat += c
	}
	if e.Inferences != 100 || e.InferenceErrors != 10 || lat != 90 || e.Loads != 2 || e.LoadFailures != 1 ||
		e.PeakMemoryMB != 4 || e.Sessions != 1 || e.Crashes != 1 {
		t.Fatalf("eta entry %+v", e)
	}
	// 0–9 ms fall in buckets ≤ 10 ms: 1, 2, 5, 10 → 0 ms and 1 ms in b0.
	if e.Latency[0] != 1 || e.Latency[NumLatencyBuckets-1] != 0 {
		t.Fatalf("latency buckets %v", e.Latency)
	}
	if d := e.Drift; len(d) != 1 || d[0].Counts[0] != 1 || d[0].Counts[1] != 2 || d[0].Counts[2] != 2 {
		t.Fatalf("drift %+v", d)
	}
	if q := rep.Entries[1]; q.Labeled != 2 || q.Top1 != 1 {
		t.Fatalf("quality %+v", q)
	}

	// An undelivered report comes back whole.
	r.Inference("eta", "2.0.0", time.Millisecond, false)
	r.Return(rep)
	again := r.Take()
	if again.Entries[0].Inferences != 101 || again.Entries[0].Drift[0].Counts[1] != 2 {
		t.Fatalf("after Return %+v", again.Entries[0])
	}
}

func TestValidateRefuses(t *testing.T) {
	good := func() *Report {
		return &Report{Entries: []Entry{{Model: "eta", Version: "1.0.0", Inferences: 10, InferenceErrors: 1}}}
	}
	if err := good().Validate(Registry()); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(r *Report){
		"more errors than inferences": func(r *Report) { r.Entries[0].InferenceErrors = 11 },
		"negative":                    func(r *Report) { r.Entries[0].Sessions = -1 },
		"latency buckets":             func(r *Report) { r.Entries[0].Latency = []int64{1} },
		"duplicate":                   func(r *Report) { r.Entries = append(r.Entries, r.Entries[0]) },
		"no version":                  func(r *Report) { r.Entries[0].Version = "" },
		"one drift bucket": func(r *Report) {
			r.Entries[0].Drift = []FeatureCounts{{Feature: "x", Counts: []int64{1}}}
		},
	} {
		r := good()
		mut(r)
		if err := r.Validate(Registry()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A stream the registry does not declare is refused.
	partial, err := telemetry.NewRegistry(Schemas()[0])
	if err != nil {
		t.Fatal(err)
	}
	var ue *telemetry.UnknownStreamError
	if err := good().Validate(partial); !errors.As(err, &ue) || ue.Stream != StreamInference {
		t.Fatalf("undeclared stream: %v", err)
	}
}

func TestTrainingHistogramsInManifest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	vals := make([]float64, 10000)
	for i := range vals {
		vals[i] = rng.NormFloat64()
	}
	h, err := Fit(vals, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Proportions) != 10 || h.Proportions[0] < 0.09 || h.Proportions[0] > 0.11 {
		t.Fatalf("fit %+v", h)
	}
	m := &bundle.Manifest{Name: "eta", Version: "1.0.0", Signature: bundle.Signature{Inputs: []bundle.Input{
		{Name: "speed", DType: "float32", Privacy: bundle.Public},
		{Name: "home", DType: "float32", Privacy: bundle.Private},
	}}}
	if err := SetTrainingHistograms(m, Histograms{"speed": h, "home": h}); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back bundle.Manifest
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	got, err := TrainingHistogramsOf(&back)
	if err != nil || len(got) != 2 || len(got["speed"].Edges) != len(h.Edges) {
		t.Fatalf("round trip %+v, %v", got, err)
	}
	pub := PublicHistograms(&back)
	if _, ok := pub["home"]; ok || len(pub) != 1 {
		t.Fatalf("private input collected for drift: %v", pub)
	}
	if err := SetTrainingHistograms(m, Histograms{"x": {Edges: []float64{1, 0}, Proportions: []float64{.3, .3, .4}}}); err == nil {
		t.Fatal("decreasing edges accepted")
	}
}
