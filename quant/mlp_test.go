package quant

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// wideMLP builds the benchmark MLP 256→1024→1024→256.
func wideMLP(t testing.TB) *graph.Graph {
	return mlpGraph(t, "mlp_256_1024_1024_256", 21, 256, 1024, 1024, 256)
}

// mlpGraph builds an MLP called name with the given widths (ReLU between
// layers) as MatMul + Add + Relu, optimized (so fused); its weights are
// He-initialized from PCG(seed, seed+1), and "batch" is symbolic.
func mlpGraph(t testing.TB, name string, seed uint64, widths ...int) *graph.Graph {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := graph.NewBuilder(name, 17)
	b.Input("x", tensor.Float32, "batch", widths[0])
	h := "x"
	for l := 0; l+1 < len(widths); l++ {
		in, out := widths[l], widths[l+1]
		w := make([]float32, in*out)
		sd := math.Sqrt(2 / float64(in))
		for i := range w {
			w[i] = float32(rng.NormFloat64() * sd)
		}
		bias := make([]float32, out)
		for i := range bias {
			bias[i] = float32(rng.NormFloat64() * 0.1)
		}
		b.Initializer(fmt.Sprintf("w%d", l), tensor.From(w, in, out))
		b.Initializer(fmt.Sprintf("b%d", l), tensor.From(bias, out))
		h = b.Op("Add", nil, b.Op("MatMul", nil, h, fmt.Sprintf("w%d", l)), fmt.Sprintf("b%d", l))
		if l+2 < len(widths) {
			h = b.Op("Relu", nil, h)
		}
	}
	b.Output(h)
	g := b.Graph()
	if _, err := graph.Optimize(g, engine.Evaluator{}, graph.OptimizeOptions{}); err != nil {
		t.Fatal(err)
	}
	return g
}

// tensorBytes is the bytes of every tensor a bundle of g stores.
func tensorBytes(t testing.TB, g *graph.Graph, q *bundle.Quantization) int {
	t.Helper()
	var buf bytes.Buffer
	m := &bundle.Manifest{Name: "m", Version: "1.0.0", Signature: bundle.SignatureOf(g), Quantization: q}
	for i := range m.Signature.Inputs {
		m.Signature.Inputs[i].Privacy = bundle.Private
	}
	if err := bundle.Write(&buf, g, m); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.OpenBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ti := range b.Tensors() {
		tt, ok := b.Tensor(ti.Name, ti.Layout)
		if !ok {
			t.Fatalf("tensor %q missing", ti.Name)
		}
		n += len(tt.Raw)
	}
	if got := b.Manifest.Quantization; (got == nil) != (q == nil) || (q != nil && got.Mode != q.Mode) {
		t.Fatalf("manifest quantization %+v after a round trip, wrote %+v", got, q)
	}
	return n
}

func TestWeightsSmaller(t *testing.T) {
	f32 := tensorBytes(t, wideMLP(t), nil)
	for _, c := range []struct {
		mode string
		pass func(*graph.Graph) (*bundle.Quantization, error)
		min  float64
	}{{ModeInt8Dynamic, Dynamic, 3.8}, {ModeFloat16, Float16, 1.95}} {
		g := wideMLP(t)
		q, err := c.pass(g)
		if err != nil {
			t.Fatal(err)
		}
		n := tensorBytes(t, g, q)
		ratio := float64(f32) / float64(n)
		t.Logf("MLP 256→1024→1024→256 bundle tensors: f32 %d B, %s %d B: %.2f× smaller", f32, c.mode, n, ratio)
		if ratio < c.min {
			t.Errorf("%s: weights only %.2f× smaller, want >= %.2f×", c.mode, ratio, c.min)
		}
	}
	// Static int8 stores the same tensors as dynamic (activation parameters
	// are attributes).
	g := wideMLP(t)
	d, _ := NewTensorData(map[string]*tensor.Tensor{"x": randomBatch(3, 64, 256)})
	cal, err := Calibrate(context.Background(), g, d, MinMax, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Static(g, cal, StaticOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := tensorBytes(t, g, q); float64(f32)/float64(n) < 3.8 {
		t.Errorf("int8 static: weights only %.2f× smaller", float64(f32)/float64(n))
	}
}

// TestQuantizedRunZeroAllocs holds the engine's contract for quantized
// models: a steady-state Run makes no heap allocations.
func TestQuantizedRunZeroAllocs(t *testing.T) {
	for _, mode := range []string{ModeInt8Dynamic, ModeInt8, ModeFloat16} {
		g := loadOptimized(t, mlpPath)
		var err error
		switch mode {
		case ModeInt8Dynamic:
			_, err = Dynamic(g)
		case ModeFloat16:
			_, err = Float16(g)
		default:
			var cal *Calibration
			if cal, err = Calibrate(context.Background(), g, calibrationData(t, 64), Entropy, nil); err == nil {
				_, err = Static(g, cal, StaticOptions{})
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := engine.Compile(g, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := m.NewSession()
		in := []*tensor.Tensor{randomBatch(5, 4, 32)}
		ctx := context.Background()
		if _, err := s.Run(ctx, in); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(50, func() { s.Run(ctx, in) }); n != 0 {
			t.Errorf("%s: Run allocates %v times", mode, n)
		}
	}
}

// BenchmarkMLP compares float32 with dynamic and static int8 on the
// 256→1024→1024→256 MLP at batch 1 (pure Go kernels on both sides).
func BenchmarkMLP(b *testing.B) {
	for _, mode := range []string{"f32", ModeInt8Dynamic, ModeInt8, ModeFloat16} {
		b.Run(mode, func(b *testing.B) {
			g := wideMLP(b)
			var err error
			switch mode {
			case ModeInt8Dynamic:
				_, err = Dynamic(g)
			case ModeFloat16:
				_, err = Float16(g)
			case ModeInt8:
				d, _ := NewTensorData(map[string]*tensor.Tensor{"x": randomBatch(3, 64, 256)})
				var cal *Calibration
				if cal, err = Calibrate(context.Background(), g, d, MinMax, nil); err == nil {
					_, err = Static(g, cal, StaticOptions{})
				}
			}
			if err != nil {
				b.Fatal(err)
			}
			m, err := engine.Compile(g, engine.Options{})
			if err != nil {
				b.Fatal(err)
			}
			s := m.NewSession()
			in := []*tensor.Tensor{randomBatch(9, 1, 256)}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Run(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
