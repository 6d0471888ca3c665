package main

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/features"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/models/flagship"
	"github.com/sextant-ml/sextant/tensor"
)

// TestCalibrateEndToEnd: a 3-class linear model whose logits are 4× the
// ones its labels were drawn from (over-confident). calibrate must fit
// T ≈ 4, pick a threshold that escalates about the target share, write both
// into the manifest, and eval must report the risk–coverage curve.
func TestCalibrateEndToEnd(t *testing.T) {
	dir := t.TempDir()
	w := []float32{1, -1, 0.5, 0.3, 0.8, -1.2}
	const scale = 4
	sw := make([]float32, len(w))
	for i, v := range w {
		sw[i] = v * scale
	}
	b := graph.NewBuilder("cls", 17)
	b.Input("x", tensor.Float32, "batch", 2)
	b.Initializer("w", tensor.From(sw, 2, 3))
	b.Output(b.Op("MatMul", nil, "x", "w"))
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "cls.sxm")
	if err := bundle.WriteFile(model, g, &bundle.Manifest{Name: "cls", Version: "1.0.0", Signature: bundle.SignatureOf(g)}); err != nil {
		t.Fatal(err)
	}
	const n = 4000
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 2*n)
	label := make([]int64, n)
	for i := range n {
		x[2*i], x[2*i+1] = float32(rng.NormFloat64()*2), float32(rng.NormFloat64()*2)
		var p [3]float64
		sum := 0.0
		for k := range 3 {
			p[k] = math.Exp(float64(x[2*i]*w[k] + x[2*i+1]*w[3+k]))
			sum += p[k]
		}
		u := rng.Float64() * sum
		for label[i] = 0; label[i] < 2 && u > p[label[i]]; label[i]++ {
			u -= p[label[i]]
		}
	}
	data := filepath.Join(dir, "held-out")
	os.Mkdir(data, 0o755)
	if err := tensor.WriteNPYFile(filepath.Join(data, "x.npy"), tensor.From(x, n, 2)); err != nil {
		t.Fatal(err)
	}
	if err := tensor.WriteNPYFile(filepath.Join(data, "label.npy"), tensor.From(label, n)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cal.sxm")
	if _, err := sextant(t, "calibrate", "--model", model, "--data", data, "--target-escalation", "0.2", "--version", "1.0.1", "-o", out); err != nil {
		t.Fatal(err)
	}
	cb, err := bundle.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	man := *cb.Manifest
	cb.Close()
	c := man.Calibration
	if c == nil || math.Abs(c.Temperature-scale) > 0.4 || !(c.CascadeThreshold > 0.34 && c.CascadeThreshold < 1) {
		t.Fatalf("calibration %+v, want T ≈ %d and a threshold in (1/3, 1)", c, scale)
	}
	if man.Version != "1.0.1" || man.ParentVersion != "1.0.0" {
		t.Fatalf("version %s parent %s", man.Version, man.ParentVersion)
	}

	js, err := sextant(t, "eval", "--model", out, "--data", data, "--task", "classification", "--json", "--bootstrap", "50", "--report", filepath.Join(dir, "r.html"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		RiskCoverage struct {
			Points []struct{ Threshold, Coverage, Risk float64 }
			AURC   float64
		} `json:"risk_coverage"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	pts := rep.RiskCoverage.Points
	if len(pts) < 10 || pts[len(pts)-1].Coverage != 1 {
		t.Fatalf("risk–coverage %+v", rep.RiskCoverage)
	}
	// Risk grows with coverage on a calibrated model; at the cascade
	// threshold the device keeps about 80% of requests.
	if !(pts[0].Risk < pts[len(pts)-1].Risk) {
		t.Fatalf("risk at low coverage %v ≥ full %v", pts[0].Risk, pts[len(pts)-1].Risk)
	}
	for _, p := range pts {
		if p.Threshold <= c.CascadeThreshold {
			if p.Coverage < 0.75 || p.Coverage > 0.85 {
				t.Fatalf("coverage at the threshold %v: %v, want ≈ 0.8", c.CascadeThreshold, p.Coverage)
			}
			break
		}
	}
	checkHTMLReport(t, filepath.Join(dir, "r.html"), 2)
}

// TestCalibrateDeferral: with --server, calibrate fits the ETA deferral
// head of an eta-small against an eta-server on unlabelled data, adds the
// "confidence" output and sets the threshold for the target escalation.
func TestCalibrateDeferral(t *testing.T) {
	dir := t.TempDir()
	small, server := writeFlagship(t, dir, "eta-small", flagship.ETASmall, 1), writeFlagship(t, dir, "eta-server", flagship.ETAServer, 2)
	const n = 2000
	d := features.RouteFeatures
	rng := rand.New(rand.NewPCG(5, 6))
	route, ff := make([]float32, n*d), make([]float32, n)
	for i := range n {
		for j := range d {
			route[i*d+j] = float32(rng.NormFloat64())
		}
		ff[i] = float32(60 + rng.Float64()*1200)
	}
	data := filepath.Join(dir, "held-out")
	os.Mkdir(data, 0o755)
	for name, tt := range map[string]*tensor.Tensor{"route": tensor.From(route, n, d), "free_flow_s": tensor.From(ff, n)} {
		if err := tensor.WriteNPYFile(filepath.Join(data, name+".npy"), tt); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "cal.sxm")
	msg, err := sextant(t, "calibrate", "--model", small, "--server", server, "--data", data, "--target-escalation", "0.05", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "deferral head against eta-server") {
		t.Fatalf("output %q", msg)
	}
	b, err := bundle.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	outs := b.Manifest.Signature.Outputs
	if c := b.Manifest.Calibration; c == nil || !(c.CascadeThreshold > 0 && c.CascadeThreshold <= 1) || outs[len(outs)-1].Name != router.ConfidenceOutput {
		t.Fatalf("calibration %+v, outputs %+v", b.Manifest.Calibration, outs)
	}
	m, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.NewSession().RunNamed(context.Background(), map[string]*tensor.Tensor{"route": tensor.From(route, n, d), "free_flow_s": tensor.From(ff, n)})
	if err != nil {
		t.Fatal(err)
	}
	below := 0
	for _, c := range tensor.Data[float32](res["confidence"]) {
		if !(c > 0 && c <= 1) {
			t.Fatalf("confidence %v outside (0, 1]", c)
		}
		if float64(c) < b.Manifest.Calibration.CascadeThreshold {
			below++
		}
	}
	// float32 in the graph against float64 in the fit: a few ties may
	// move across the threshold.
	if below < 90 || below > 105 {
		t.Fatalf("%d of %d below the threshold, want about 5%%", below, n)
	}
}
