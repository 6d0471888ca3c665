package quant

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// observe runs both observer passes over x.
func observe(x []float32, m Method) Range {
	var o observer
	o.observeMinMax(x)
	if m != MinMax {
		o.startHistogram()
		o.observeHistogram(x)
	}
	return o.finish(m)
}

// TestObserversClipOutliers: 10^5 values uniform in [−1, 1] and one outlier
// at 100. Min/max keeps the outlier; percentile and entropy clip it to about
// the bulk's range.
func TestObserversClipOutliers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 100000)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	x[17] = 100
	if r := observe(x, MinMax); r.Max != 100 || r.Min > -0.99 || r.Abs != 100 {
		t.Errorf("minmax: %+v, want max 100, min about -1", r)
	}
	r := observe(x, Percentile)
	if r.Max < 0.9 || r.Max > 1.1 || r.Min > -0.9 || r.Min < -1.1 || r.Abs < 0.9 || r.Abs > 1.1 {
		t.Errorf("percentile: range %+v, want about [-1, 1] (the outlier clipped)", r)
	}
	// Entropy's candidates start at 128 of the 2048 bins over [0, 100]
	// (TensorRT's method), so it clips the outlier to 6.25 at most.
	r = observe(x, Entropy)
	if lim := float32(128*100) / 2048; r.Abs > lim || r.Max > lim || r.Min < -1.01 {
		t.Errorf("entropy: range %+v, want the outlier clipped to <= %v", r, lim)
	}
}

// TestEntropyNonNegative: ReLU-like data (half exact zeros, the rest
// exponential) gets a range starting at 0 that clips the long tail but
// keeps most of the mass.
func TestEntropyNonNegative(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	x := make([]float32, 200000)
	for i := range x {
		if i%2 == 1 {
			x[i] = float32(rng.ExpFloat64())
		}
	}
	r := observe(x, Entropy)
	mm := observe(x, MinMax)
	t.Logf("entropy %+v, minmax %+v", r, mm)
	if r.Min != 0 || r.Max < 3 || r.Max >= mm.Max {
		t.Errorf("entropy range %+v: want [0, t] with 3 <= t < max %v", r, mm.Max)
	}
}

func TestParseMethod(t *testing.T) {
	for _, s := range []string{"minmax", "percentile", "entropy"} {
		if m, err := ParseMethod(s); err != nil || string(m) != s {
			t.Errorf("ParseMethod(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParseMethod("kl"); err == nil {
		t.Error("ParseMethod(kl) succeeded")
	}
}

func TestNPYDir(t *testing.T) {
	dir := t.TempDir()
	if err := tensor.WriteNPYFile(filepath.Join(dir, "x.npy"), randomBatch(1, 70, 32)); err != nil {
		t.Fatal(err)
	}
	d, err := NPYDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 70 || len(d.Names()) != 1 {
		t.Fatalf("Len %d, names %v", d.Len(), d.Names())
	}
	var sizes []int
	for {
		b, err := d.Next(32)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b["x"].Shape[0])
	}
	if len(sizes) != 3 || sizes[0] != 32 || sizes[2] != 6 {
		t.Errorf("batches of %v, want [32 32 6]", sizes)
	}
	if err := tensor.WriteNPYFile(filepath.Join(dir, "y.npy"), randomBatch(1, 5, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := NPYDir(dir); err == nil {
		t.Error("files with 70 and 5 examples accepted")
	}
	if _, err := NPYDir(t.TempDir()); err == nil {
		t.Error("an empty directory accepted")
	}
}

// TestCalibrateFixedBatch: a model whose input is [1, 8] calibrates from a
// data set of [N, 8], one example per run, and sees every example.
func TestCalibrateFixedBatch(t *testing.T) {
	b := graph.NewBuilder("fixed", 17)
	b.Input("x", tensor.Float32, 1, 8)
	b.Initializer("w", tensor.From(make([]float32, 8*4), 8, 4))
	b.Output(b.Op("Relu", nil, b.Op("MatMul", nil, "x", "w")))
	g := b.Graph()
	x := randomBatch(4, 10, 8)
	tensor.Data[float32](x)[5*8+3] = 9 // the maximum, in example 5
	d, err := NewTensorData(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	var last int
	cal, err := Calibrate(context.Background(), g, d, MinMax, func(done, total int) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if r := cal.Ranges["x"]; r.Max != 9 || last != 10 {
		t.Errorf("range of x %+v after %d examples, want max 9 after 10", r, last)
	}
	if _, err := Calibrate(context.Background(), g, d, Method("mse"), nil); err == nil {
		t.Error("unknown method accepted")
	}
	missing, _ := NewTensorData(map[string]*tensor.Tensor{"z": x})
	if _, err := Calibrate(context.Background(), g, missing, MinMax, nil); err == nil {
		t.Error("data without the model's input accepted")
	}
}
