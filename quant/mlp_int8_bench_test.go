package quant

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// quantizeMLP applies mode ("f32" leaves g as it is) to an MLP of width w0.
func quantizeMLP(t testing.TB, g *graph.Graph, mode string, w0 int) {
	t.Helper()
	var err error
	switch mode {
	case ModeInt8Dynamic:
		_, err = Dynamic(g)
	case ModeInt8:
		d, _ := NewTensorData(map[string]*tensor.Tensor{"x": randomBatch(3, 64, w0)})
		var cal *Calibration
		if cal, err = Calibrate(context.Background(), g, d, MinMax, nil); err == nil {
			_, err = Static(g, cal, StaticOptions{})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

var int8MLPs = [][]int{{32, 256, 256, 64}, {256, 1024, 1024, 256}}

// BenchmarkMLPInt8 compares float32 with dynamic and static int8 at batch 1
// on the two MLPs of issue 3's bar, each on the best kernel sets of the
// machine (kernels/gemm for float32, kernels/gemm8 for int8).
func BenchmarkMLPInt8(b *testing.B) {
	for _, widths := range int8MLPs {
		name := strings.Trim(strings.ReplaceAll(fmt.Sprint(widths), " ", "-"), "[]")
		for _, mode := range []string{"f32", ModeInt8Dynamic, ModeInt8} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				g := mlpGraph(b, "mlp", 31, widths...)
				quantizeMLP(b, g, mode, widths[0])
				m, err := engine.Compile(g, engine.Options{})
				if err != nil {
					b.Fatal(err)
				}
				s := m.NewSession()
				in := []*tensor.Tensor{randomBatch(9, 1, widths[0])}
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
}

// TestMLPInt8Accuracy bounds the int8 MLPs' error against float32 at batch
// 4: the largest output error relative to the largest output magnitude.
func TestMLPInt8Accuracy(t *testing.T) {
	for _, widths := range int8MLPs {
		x := randomBatch(17, 4, widths[0])
		want := runGraph(t, mlpGraph(t, "mlp", 31, widths...), x)
		for _, mode := range []string{ModeInt8Dynamic, ModeInt8} {
			g := mlpGraph(t, "mlp", 31, widths...)
			quantizeMLP(t, g, mode, widths[0])
			got := runGraph(t, g, x)
			w, q := tensor.Data[float32](want), tensor.Data[float32](got)
			var maxErr, maxAbs float64
			for i := range w {
				maxErr = math.Max(maxErr, math.Abs(float64(q[i]-w[i])))
				maxAbs = math.Max(maxAbs, math.Abs(float64(w[i])))
			}
			t.Logf("MLP %v %s: max |int8 − f32| = %.4f (%.2f%% of max |f32| %.3f)", widths, mode, maxErr, 100*maxErr/maxAbs, maxAbs)
			if maxErr > 0.05*maxAbs {
				t.Errorf("MLP %v %s: error %.4f exceeds 5%% of %.3f", widths, mode, maxErr, maxAbs)
			}
		}
	}
}
