package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// writeInspectFixture writes a two-input bundle with a sensitive input, a
// weight, a packed variant of it and provenance.
func writeInspectFixture(t *testing.T) string {
	t.Helper()
	place := &graph.Value{Name: "place", Type: graph.Type{DType: tensor.Float32, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(3)}, Known: true}}
	hist := &graph.Value{Name: "history", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 3})}
	w := &graph.Value{Name: "w", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{3, 2}), Const: tensor.From([]float32{1, 2, 3, 4, 5, 6}, 3, 2)}
	sum := &graph.Value{Name: "s", Type: place.Type}
	y := &graph.Value{Name: "y", Type: graph.Type{DType: tensor.Float32, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(2)}, Known: true}}
	add := &graph.Node{Op: "Add", Inputs: []*graph.Value{place, hist}, Outputs: []*graph.Value{sum}}
	mm := &graph.Node{Op: "MatMul", Inputs: []*graph.Value{sum, w}, Outputs: []*graph.Value{y}}
	sum.Producer, y.Producer = add, mm
	g := &graph.Graph{Name: "t", Opset: 17, Inputs: []*graph.Value{place, hist}, Initializers: []*graph.Value{w},
		Nodes: []*graph.Node{add, mm}, Outputs: []*graph.Value{y}}
	m := &bundle.Manifest{
		Name: "next-destination", Version: "1.3.0", ParentVersion: "1.2.0",
		Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{
			TrainingRun: "run-7", FederatedRounds: []string{"12"},
			Privacy:   &bundle.PrivacyCost{Epsilon: 3, Delta: 1e-6},
			CreatedAt: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
			Producer:  bundle.Producer{Tool: "test", Version: "0"},
		},
	}
	m.Signature.Inputs[0].Privacy = bundle.Sensitive
	m.Signature.Inputs[0].Coarsening = &bundle.Coarsening{Kind: bundle.CoarsenH3, Resolution: 7}
	packed := bundle.Extra{Name: "w", Layout: "f32-panel-avx512-16", Tensor: &tensor.Tensor{DType: tensor.Float32, Shape: tensor.Shape{3, 2}, Raw: make([]byte, 192)}}
	path := filepath.Join(t.TempDir(), "nd.sxm")
	if err := bundle.WriteFile(path, g, m, packed); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInspectText(t *testing.T) {
	path := writeInspectFixture(t)
	out, err := sextant(t, "inspect", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"next-destination 1.3.0 (parent 1.2.0)", "sxm format 1", "sha256 ",
		"place", "float32[batch,3]", "sensitive (h3 resolution 7)", "history", "private",
		"2 nodes: Add 1, MatMul 1", "6 in 24 B", "float32[3,2]  f32-panel-avx512-16, 192 B",
		"layouts: f32-panel-avx512-16 1, plain 1", "w ", "run-7", "ε=3 δ=1e-06",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectJSON(t *testing.T) {
	path := writeInspectFixture(t)
	out, err := sextant(t, "inspect", path, "--json", "--verify")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"name", "version", "format_version", "sha256", "size_bytes", "inputs", "outputs", "ops", "parameters", "parameter_bytes", "tensors", "manifest", "verified"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	st, _ := os.Stat(path)
	if r["name"] != "next-destination" || r["size_bytes"] != float64(st.Size()) || r["parameters"] != float64(6) || r["verified"] != true {
		t.Errorf("JSON values: name %v size %v parameters %v verified %v", r["name"], r["size_bytes"], r["parameters"], r["verified"])
	}
	in0 := r["inputs"].([]any)[0].(map[string]any)
	if in0["privacy"] != "sensitive" || in0["coarsening"].(map[string]any)["resolution"] != float64(7) {
		t.Errorf("input 0 = %v", in0)
	}
	if ops := r["ops"].(map[string]any); ops["MatMul"] != float64(1) || ops["Add"] != float64(1) {
		t.Errorf("ops = %v", ops)
	}
	var sawPacked bool
	for _, x := range r["tensors"].([]any) {
		tm := x.(map[string]any)
		if tm["layout"] == "f32-panel-avx512-16" && tm["bytes"] == float64(192) && tm["name"] == "w" {
			sawPacked = true
		}
	}
	if !sawPacked {
		t.Errorf("packed tensor not reported: %v", r["tensors"])
	}
}

func TestInspectVerifyFails(t *testing.T) {
	path := writeInspectFixture(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sextant(t, "inspect", path); err != nil {
		t.Fatalf("inspect without --verify should not check the hash: %v", err)
	}
	_, err = sextant(t, "inspect", path, "--verify")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code == 0 || !strings.Contains(ee.msg, "content hash mismatch") {
		t.Fatalf("inspect --verify of a corrupted bundle = %v, want a non-zero exit naming the hash", err)
	}
}
