package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

const mlpONNX = "../../testdata/torch/mlp_op17.onnx"

// writeCalibration writes n N(0, 1) examples of the MLP's input x as
// dir/x.npy.
func writeCalibration(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*32)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	if err := tensor.WriteNPYFile(filepath.Join(dir, "x.npy"), tensor.From(x, n, 32)); err != nil {
		t.Fatal(err)
	}
}

func TestConvertQuantize(t *testing.T) {
	dir := t.TempDir()
	cal := filepath.Join(dir, "cal")
	if err := os.Mkdir(cal, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCalibration(t, cal, 300)
	want, err := tensor.ReadNPYFile("../../testdata/torch/mlp_op17/y.npy")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode  string
		extra []string
		op    string
		tol   float64
	}{
		{"int8-dynamic", nil, "DynamicQuantMatMul", 0.02},
		{"int8", []string{"--calibrate", cal, "--calibration-method", "percentile"}, "QuantMatMul", 0.02},
		{"f16", nil, "Cast", 1e-3},
	} {
		sxm := filepath.Join(dir, c.mode+".sxm")
		var stdout, stderr bytes.Buffer
		args := append([]string{"convert", mlpONNX, "-o", sxm, "--quantize", c.mode}, c.extra...)
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", c.mode, err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "quantized  "+c.mode) || !strings.Contains(stdout.String(), c.op) {
			t.Errorf("%s: convert output lacks the quantization or op %s:\n%s", c.mode, c.op, stdout.String())
		}
		if c.mode == "int8" && !strings.Contains(stderr.String(), "calibrating (percentile) [") {
			t.Errorf("int8: no progress bar on stderr: %q", stderr.String())
		}
		b, err := bundle.Open(sxm)
		if err != nil {
			t.Fatal(err)
		}
		q := b.Manifest.Quantization
		b.Close()
		if q == nil || q.Mode != c.mode || len(q.Tensors) == 0 {
			t.Fatalf("%s: manifest quantization %+v", c.mode, q)
		}
		od := filepath.Join(dir, c.mode+"-out")
		if _, err := sextant(t, "run", sxm, "--input", "x=../../testdata/torch/mlp_op17/x.npy", "--output-dir", od); err != nil {
			t.Fatal(err)
		}
		got, err := tensor.ReadNPYFile(filepath.Join(od, "y.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if d, err := maxAbsDiff(got, want); err != nil || d > c.tol {
			t.Errorf("%s: output differs from PyTorch's by %v (tolerance %v, %v)", c.mode, d, c.tol, err)
		}
	}
}

func TestConvertQuantizeErrors(t *testing.T) {
	dir := t.TempDir()
	writeCalibration(t, dir, 10)
	out := filepath.Join(dir, "m.sxm")
	for _, args := range [][]string{
		{"--quantize", "int8"},                                            // no --calibrate
		{"--quantize", "int4"},                                            // unknown mode
		{"--quantize", "int8-dynamic", "--calibrate", dir},                // calibration without int8
		{"--quantize", "int8", "--calibrate", filepath.Join(dir, "none")}, // no such directory
		{"--quantize", "int8", "--calibrate", dir, "--calibration-method", "mse"},
	} {
		if _, err := sextant(t, append([]string{"convert", mlpONNX, "-o", out}, args...)...); err == nil {
			t.Errorf("convert %v succeeded, want an error", args)
		}
	}
}

// TestConvertFoldsQDQ: an already-quantized (QDQ) ONNX model converts, with
// no --quantize, into QuantMatMul and a manifest that says int8.
func TestConvertFoldsQDQ(t *testing.T) {
	b := graph.NewBuilder("qdq", 13)
	b.Input("x", tensor.Float32, "batch", 4)
	b.Initializer("s", tensor.Scalar[float32](0.05))
	b.Initializer("z", tensor.Scalar[uint8](100))
	b.Initializer("w", tensor.From([]int8{1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12}, 4, 3))
	b.Initializer("sw", tensor.Scalar[float32](0.1))
	xd := b.Op("DequantizeLinear", nil, b.Op("QuantizeLinear", nil, "x", "s", "z"), "s", "z")
	b.Output(b.Op("MatMul", nil, xd, b.Op("DequantizeLinear", nil, "w", "sw")))
	src, err := onnx.Encode(b.Graph())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, sxm := filepath.Join(dir, "qdq.onnx"), filepath.Join(dir, "qdq.sxm")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := sextant(t, "convert", in, "-o", sxm)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "QuantMatMul×1") || !strings.Contains(out, "quantized  int8") {
		t.Errorf("convert of a QDQ model:\n%s", out)
	}
}
