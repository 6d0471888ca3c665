package quant

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

const mlpPath = "../testdata/torch/mlp_op17.onnx"

// loadOptimized reads an ONNX model and optimizes it as convert does.
func loadOptimized(t testing.TB, path string) *graph.Graph {
	t.Helper()
	g, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graph.Optimize(g, engine.Evaluator{}, graph.OptimizeOptions{}); err != nil {
		t.Fatal(err)
	}
	return g
}

// randomBatch returns n examples of width w drawn from N(0, 1).
func randomBatch(seed uint64, n, w int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*w)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return tensor.From(x, n, w)
}

// runGraph compiles g (taking it) and runs it on x, returning a copy of the
// first output.
func runGraph(t testing.TB, g *graph.Graph, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	m, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.NewSession().Run(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Clone()
}

// compare returns the largest absolute difference, the largest |ref|, and
// the fraction of rows whose argmax agrees.
func compare(ref, got *tensor.Tensor) (maxAbs, refMax, agree float64) {
	maxAbs, _, refMax, agree = compareMean(ref, got)
	return maxAbs, refMax, agree
}

// compareMean is compare that also returns the mean absolute difference.
func compareMean(ref, got *tensor.Tensor) (maxAbs, meanAbs, refMax, agree float64) {
	r, q := tensor.Data[float32](ref), tensor.Data[float32](got)
	w := ref.Shape[len(ref.Shape)-1]
	rows, same := len(r)/w, 0
	for i := 0; i < rows; i++ {
		ra, qa := 0, 0
		for j := 0; j < w; j++ {
			k := i*w + j
			maxAbs = max(maxAbs, math.Abs(float64(r[k]-q[k])))
			meanAbs += math.Abs(float64(r[k]-q[k])) / float64(len(r))
			refMax = max(refMax, math.Abs(float64(r[k])))
			if r[k] > r[i*w+ra] {
				ra = j
			}
			if q[k] > q[i*w+qa] {
				qa = j
			}
		}
		if ra == qa {
			same++
		}
	}
	return maxAbs, meanAbs, refMax, float64(same) / float64(rows)
}

// calibrationData is n random examples for the MLP's input "x".
func calibrationData(t testing.TB, n int) *TensorData {
	d, err := NewTensorData(map[string]*tensor.Tensor{"x": randomBatch(7, n, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDynamicMLPAccuracy(t *testing.T) {
	x := randomBatch(1, 512, 32)
	ref := runGraph(t, loadOptimized(t, mlpPath), x)
	g := loadOptimized(t, mlpPath)
	q, err := Dynamic(g)
	if err != nil {
		t.Fatal(err)
	}
	if q.Mode != ModeInt8Dynamic || len(q.Tensors) != 2 {
		t.Fatalf("manifest record %+v, want mode %s and 2 weights", q, ModeInt8Dynamic)
	}
	for _, n := range g.Nodes {
		if n.Op != "DynamicQuantMatMul" {
			t.Errorf("node %v left after the dynamic pass", n)
		}
	}
	got := runGraph(t, g, x)
	maxAbs, refMax, agree := compare(ref, got)
	t.Logf("int8-dynamic vs f32 on 512 N(0,1) inputs: max abs err %.4g (|y| max %.3g), argmax agreement %.1f%%", maxAbs, refMax, 100*agree)
	if maxAbs > 0.02*refMax || agree < 0.98 {
		t.Errorf("int8-dynamic: max abs err %.4g (bound %.4g), argmax agreement %.3f (want >= 0.98)", maxAbs, 0.02*refMax, agree)
	}
}

func TestStaticMLPAccuracy(t *testing.T) {
	x := randomBatch(1, 512, 32)
	ref := runGraph(t, loadOptimized(t, mlpPath), x)
	for _, m := range []Method{MinMax, Percentile, Entropy} {
		for _, dt := range []tensor.DType{tensor.Uint8, tensor.Int8} {
			g := loadOptimized(t, mlpPath)
			calls := 0
			cal, err := Calibrate(context.Background(), g, calibrationData(t, 1024), m, func(done, total int) {
				calls++
				if done > total {
					t.Errorf("progress %d of %d", done, total)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls == 0 || len(cal.Ranges) != 2 {
				t.Fatalf("%s: %d progress calls, ranges %v", m, calls, cal.Ranges)
			}
			if _, err := Static(g, cal, StaticOptions{Activations: dt}); err != nil {
				t.Fatal(err)
			}
			chained := 0
			for _, n := range g.Nodes {
				if n.Op != "QuantMatMul" {
					t.Errorf("node %v left after the static pass", n)
				}
				if n.Int("y_type", 1) == int64(dt) {
					chained++
				}
			}
			if chained != 1 {
				t.Errorf("%s/%v: %d products requantize their output, want 1 (the hidden layer)", m, dt, chained)
			}
			got := runGraph(t, g, x)
			maxAbs, meanAbs, refMax, agree := compareMean(ref, got)
			t.Logf("int8 static %-10s %-5v: max abs err %.4g, mean abs err %.3g (|y| max %.3g), argmax agreement %.1f%%", m, dt, maxAbs, meanAbs, refMax, 100*agree)
			// Percentile and entropy clip rare large inputs on purpose, so
			// the worst case is looser than the mean.
			if maxAbs > 0.1*refMax || meanAbs > 0.01*refMax || agree < 0.96 {
				t.Errorf("static %s/%v: max abs err %.4g (bound %.4g), mean %.3g (bound %.3g), argmax agreement %.3f (want >= 0.96)",
					m, dt, maxAbs, 0.1*refMax, meanAbs, 0.01*refMax, agree)
			}
		}
	}
}

func TestFloat16MLP(t *testing.T) {
	x := randomBatch(1, 64, 32)
	ref := runGraph(t, loadOptimized(t, mlpPath), x)
	g := loadOptimized(t, mlpPath)
	q, err := Float16(g)
	if err != nil {
		t.Fatal(err)
	}
	halves := 0
	for _, v := range g.Initializers {
		if v.Const.DType == tensor.Float16 {
			halves++
		}
	}
	if halves != 2 || len(q.Tensors) != 2 {
		t.Fatalf("%d float16 initializers, %d recorded; want both weight matrices", halves, len(q.Tensors))
	}
	got := runGraph(t, g, x)
	maxAbs, refMax, agree := compare(ref, got)
	t.Logf("f16 weights vs f32: max abs err %.3g (|y| max %.3g), argmax agreement %.1f%%", maxAbs, refMax, 100*agree)
	if maxAbs > 2e-3*refMax || agree < 0.99 {
		t.Errorf("f16: max abs err %.3g, argmax agreement %.3f", maxAbs, agree)
	}
}
