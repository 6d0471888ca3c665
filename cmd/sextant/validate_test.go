package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

// writeMLPData writes n random examples for the torch MLP's input x.
func writeMLPData(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	x := tensor.New(tensor.Float32, n, 32)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range tensor.Data[float32](x) {
		tensor.Data[float32](x)[i] = float32(rng.NormFloat64())
	}
	if err := tensor.WriteNPYFile(filepath.Join(dir, "x.npy"), x); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidate(t *testing.T) {
	const src = "../../testdata/torch/mlp_op17.onnx"
	dir := t.TempDir()
	data := writeMLPData(t, 64)
	f32 := filepath.Join(dir, "f32.sxm")
	if _, err := sextant(t, "convert", src, "-o", f32); err != nil {
		t.Fatal(err)
	}
	out, err := sextant(t, "validate", f32, "--reference", src, "--data", data, "--iterations", "50", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !rep.Passed || rep.Examples != 64 || len(rep.Outputs) != 1 {
		t.Fatalf("f32 bundle vs its ONNX source: %+v", rep)
	}
	if o := rep.Outputs[0]; o.MaxAbs > 1e-5 || o.Cosine < 0.999999 {
		t.Errorf("f32 parity %+v, want identical within float rounding", o)
	}
	if rep.EnergyUJ <= 0 || rep.Latency.HostP50US <= 0 || rep.Memory.WeightBytes == 0 {
		t.Errorf("latency/memory/energy not measured: %+v", rep)
	}

	// int8-dynamic differs from f32 by more than 1e-4: a tight tolerance
	// breaks, and the command exits 1 with a table naming the check.
	i8 := filepath.Join(dir, "i8.sxm")
	if _, err := sextant(t, "convert", src, "-o", i8, "--quantize", "int8-dynamic"); err != nil {
		t.Fatal(err)
	}
	out, err = sextant(t, "validate", i8, "--reference", src, "--data", data, "--iterations", "20", "--tolerance", "max_abs=1e-4")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("int8 at max_abs=1e-4: err %v, want exit 1", err)
	}
	if !strings.Contains(out, "max_abs") || !strings.Contains(out, "BROKEN") {
		t.Fatalf("table does not name the broken check:\n%s", out)
	}
	// ... and passes a tolerance fit for int8.
	if _, err := sextant(t, "validate", i8, "--reference", src, "--data", data, "--iterations", "20", "--tolerance", "max_abs=0.05,cosine=0.99"); err != nil {
		t.Fatalf("int8 at max_abs=0.05: %v", err)
	}
	// A budget the model cannot meet breaks too.
	out, err = sextant(t, "validate", f32, "--reference", src, "--data", data, "--iterations", "20", "--budget", "arena=16B,energy=1e-9uJ")
	if !errors.As(err, &ee) || !strings.Contains(out, "arena") {
		t.Fatalf("impossible budget: err %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"validate", f32, "--reference", src},
		{"validate", f32, "--reference", src, "--data", dir},
		{"validate", f32, "--reference", src, "--data", data, "--budget", "speed=fast"},
		{"validate", f32, "--reference", src, "--data", data, "--profile", "no-such-phone"},
	} {
		if _, err := sextant(t, bad...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}

// TestValidateTaskMetric: with labels equal to the f32 model's own argmax,
// the reference scores Acc@1 = 1; int8-dynamic loses a little. The drop is
// reported and checked against --max-metric-drop.
func TestValidateTaskMetric(t *testing.T) {
	const src = "../../testdata/torch/mlp_op17.onnx"
	dir := t.TempDir()
	data := writeMLPData(t, 300)
	lm, err := loadModel(src, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.ReadNPYFile(filepath.Join(data, "x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := lm.model.NewSession().Run(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	y := tensor.Data[float32](outs[0])
	labels := make([]int64, 300)
	for i := range labels {
		best := 0
		for j := 1; j < 16; j++ {
			if y[i*16+j] > y[i*16+best] {
				best = j
			}
		}
		labels[i] = int64(best)
	}
	if err := tensor.WriteNPYFile(filepath.Join(data, "label.npy"), tensor.From(labels, 300)); err != nil {
		t.Fatal(err)
	}
	i8 := filepath.Join(dir, "i8.sxm")
	if _, err := sextant(t, "convert", src, "-o", i8, "--quantize", "int8-dynamic"); err != nil {
		t.Fatal(err)
	}
	args := []string{"validate", i8, "--reference", src, "--data", data, "--iterations", "10", "--tolerance", "max_abs=0.05",
		"--metric", "acc@1", "--labels", "label", "--json"}
	out, err := sextant(t, append(args, "--max-metric-drop", "0.2")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	md := rep.Metric
	if md == nil || md.Name != "acc@1" || md.Reference != 1 || md.Candidate > 1 || md.Candidate < 0.9 || md.Drop != md.Reference-md.Candidate {
		t.Fatalf("metric %+v", md)
	}
	if md.Drop > 0 {
		var ee *exitError
		if _, err := sextant(t, append(args, "--max-metric-drop", "0")...); !errors.As(err, &ee) {
			t.Fatalf("drop %v with --max-metric-drop 0: err %v, want exit 1", md.Drop, err)
		}
	}
	if _, err := sextant(t, "validate", i8, "--reference", src, "--data", data, "--metric", "acc@1"); err == nil {
		t.Fatal("--metric without --labels accepted")
	}
}
