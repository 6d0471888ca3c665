package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/conformance"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// sextant runs the CLI in-process and returns its stdout.
func sextant(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	if err != nil {
		t.Logf("sextant %s: %v\nstderr: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), err
}

const blockONNX = "../../testdata/torch/block_op17.onnx"

func TestConvertRunBench(t *testing.T) {
	dir := t.TempDir()
	sxm := filepath.Join(dir, "block.sxm")
	out, err := sextant(t, "convert", blockONNX, "-o", sxm, "--version", "2.1.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ops", "LayerNormalization", "parameters 872", "bundle", "arena"} {
		if !strings.Contains(out, want) {
			t.Errorf("convert output lacks %q:\n%s", want, out)
		}
	}

	// run on the .sxm and on the .onnx: same outputs, matching PyTorch's.
	for _, model := range []string{sxm, blockONNX} {
		od := filepath.Join(dir, filepath.Base(model)+"-out")
		if _, err := sextant(t, "run", model, "--input", "x=../../testdata/torch/block_op17/x.npy", "--output-dir", od); err != nil {
			t.Fatal(err)
		}
		got, err := tensor.ReadNPYFile(filepath.Join(od, "y.npy"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := tensor.ReadNPYFile("../../testdata/torch/block_op17/y.npy")
		if err != nil {
			t.Fatal(err)
		}
		if d, err := maxAbsDiff(got, want); err != nil || d > 1e-5 {
			t.Fatalf("%s: output differs from PyTorch's by %v (%v)", model, d, err)
		}
	}

	out, err = sextant(t, "bench", sxm, "--iterations", "50", "--warmup", "5", "--json", "--profile")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	for _, k := range []string{"mean_us", "p50_us", "p95_us", "p99_us", "allocs_per_run", "arena_bytes", "load_us", "energy_uj"} {
		if _, ok := res[k]; !ok {
			t.Errorf("bench JSON lacks %q: %s", k, out)
		}
	}
	if res["allocs_per_run"].(float64) != 0 {
		t.Errorf("bench reports %v allocations per run, want 0", res["allocs_per_run"])
	}
	if res["p50_us"].(float64) <= 0 || res["p99_us"].(float64) < res["p50_us"].(float64) {
		t.Errorf("implausible percentiles: %s", out)
	}
	if e, _ := res["energy_uj"].(float64); e <= 0 {
		t.Errorf("energy estimate %v, want > 0", res["energy_uj"])
	}
	if ops, _ := res["ops"].([]any); len(ops) == 0 {
		t.Errorf("bench --profile gave no per-op times: %s", out)
	}
}

func TestConvertPrivacyClasses(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ flag, class, json string }{
		{"x=public", "public", ""},
		{"x=sensitive:h3:7", "sensitive", `"resolution":7`},
		{"x=sensitive:time_slot:30", "sensitive", `"minutes":30`},
		{"x=sensitive:bucket:0,1.5,10", "sensitive", `"edges":[0,1.5,10]`},
	} {
		sxm := filepath.Join(dir, "p.sxm")
		if _, err := sextant(t, "convert", blockONNX, "-o", sxm, "--privacy", c.flag); err != nil {
			t.Fatalf("%s: %v", c.flag, err)
		}
		out, err := sextant(t, "inspect", sxm, "--json")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `"privacy": "`+c.class+`"`) && !strings.Contains(out, `"privacy":"`+c.class+`"`) {
			t.Errorf("%s: inspect does not show class %s:\n%s", c.flag, c.class, out)
		}
		if c.json != "" && !strings.Contains(strings.Join(strings.Fields(out), ""), c.json) {
			t.Errorf("%s: inspect does not show coarsening %s", c.flag, c.json)
		}
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	cases := [][]string{
		{"run", blockONNX, "--output-dir", dir},                                               // missing input
		{"run", blockONNX, "--input", "x", "--output-dir", dir},                               // malformed
		{"run", blockONNX, "--input", "x=/nonexistent.npy", "--output-dir", dir},              // unreadable
		{"run", filepath.Join(dir, "nothing.sxm"), "--input", "x=a.npy", "--output-dir", dir}, // no model
		{"convert", blockONNX}, // no -o
		{"convert", blockONNX, "-o", filepath.Join(dir, "x.sxm"), "--privacy", "nope=private"},
		{"convert", blockONNX, "-o", filepath.Join(dir, "x.sxm"), "--privacy", "x=sensitive"},
		{"convert", blockONNX, "-o", filepath.Join(dir, "x.sxm"), "--privacy", "x=sensitive:h3:x"},
		{"convert", blockONNX, "-o", filepath.Join(dir, "x.sxm"), "--privacy", "x=sensitive:s2:x"},
		{"convert", blockONNX, "-o", filepath.Join(dir, "x.sxm"), "--privacy", "x=sensitive:s2:31"},
		{"convert", blockONNX, "-o", filepath.Join(dir, "x.sxm"), "--privacy", "x=secret"},
	}
	for _, args := range cases {
		if _, err := sextant(t, args...); err == nil {
			t.Errorf("sextant %v succeeded, want an error", args)
		}
	}
}

func TestConformanceCommand(t *testing.T) {
	if _, err := os.Stat(conformance.DefaultSuite); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ONNX node tests missing; install libonnx-testdata")
		}
		t.Skip("ONNX node tests missing; install them with: apt-get install libonnx-testdata")
	}
	out, err := sextant(t, "conformance", "--run", "^test_(relu|gru_defaults|gemm_alpha)$", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Passed, Failed, Unsupported int
		Tests                       []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 3 || rep.Failed != 0 || len(rep.Tests) != 3 {
		t.Fatalf("conformance report %+v, want 3 passed", rep)
	}
	// A suite with a wrong expected output makes the command exit non-zero.
	suite := t.TempDir()
	writeNodeTest(t, filepath.Join(suite, "test_relu_wrong"), []float32{-1, 2}, []float32{0, 3})
	writeNodeTest(t, filepath.Join(suite, "test_relu_right"), []float32{-1, 2}, []float32{0, 2})
	out, err = sextant(t, "conformance", "--suite", suite)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("conformance on a failing suite: err %v, want exit code 1", err)
	}
	if !strings.Contains(out, "1 passed, 1 failed, 0 unsupported") {
		t.Fatalf("conformance summary:\n%s", out)
	}
}

// writeNodeTest writes an ONNX node test of one Relu with the given input
// and expected output.
func writeNodeTest(t *testing.T, dir string, in, want []float32) {
	t.Helper()
	b := graph.NewBuilder("relu", 17)
	b.Input("x", tensor.Float32, len(in))
	b.Output(b.Op("Relu", nil, "x"))
	model, err := onnx.Encode(b.Graph())
	if err != nil {
		t.Fatal(err)
	}
	set := filepath.Join(dir, "test_data_set_0")
	if err := os.MkdirAll(set, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{filepath.Join(dir, "model.onnx"): model}
	for name, v := range map[string][]float32{"input_0.pb": in, "output_0.pb": want} {
		pb, err := onnx.EncodeTensor("", tensor.From(v, len(v)))
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Join(set, name)] = pb
	}
	for p, data := range files {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDemoRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every shipped model")
	}
	out, err := sextant(t, "demo", "runtime", "--iterations", "20")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "All 2 models converted, verified, matched PyTorch") {
		t.Fatalf("demo output:\n%s", out)
	}
}

// TestConvertStoresPackedWeights: convert writes GEMM weights in the
// kernels' panel layout; a compile from the bundle uses them in place (no
// repacking), a compile from ONNX repacks, and both compute the same thing.
func TestConvertStoresPackedWeights(t *testing.T) {
	const src = "../../testdata/torch/mlp_op17.onnx"
	sxm := filepath.Join(t.TempDir(), "mlp.sxm")
	if _, err := sextant(t, "convert", src, "-o", sxm); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(sxm)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	packed := 0
	for _, v := range b.Graph.Initializers {
		if p, ok := v.Layouts[kernels.PanelLayout(true)]; ok {
			packed++
			if len(p.Raw) < len(v.Const.Raw) {
				t.Errorf("%s: panels of %d bytes for a %d-byte weight", v.Name, len(p.Raw), len(v.Const.Raw))
			}
		}
	}
	if packed != 2 {
		t.Fatalf("%d weights stored packed, want 2 (the two Gemm weights)", packed)
	}
	fromBundle, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := fromBundle.Repacked(); n != 0 {
		t.Errorf("compiling the bundle repacked %d nodes, want 0", n)
	}
	g, err := onnx.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fromONNX, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := fromONNX.Repacked(); n != 2 {
		t.Errorf("compiling the ONNX file repacked %d nodes, want 2", n)
	}
	x, err := tensor.ReadNPYFile("../../testdata/torch/mlp_op17/x.npy")
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.ReadNPYFile("../../testdata/torch/mlp_op17/y.npy")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*engine.Model{fromBundle, fromONNX} {
		outs, err := m.NewSession().Run(context.Background(), []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		if d, err := maxAbsDiff(outs[0], want); err != nil || d > 1e-5 {
			t.Fatalf("output differs from PyTorch's by %v (%v)", d, err)
		}
	}
}
