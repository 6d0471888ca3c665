package peer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// requireORT initializes ONNX Runtime from bench/node_modules (or $ORT_LIB).
// Without the library the test is skipped, except under CI=true, where the
// comparison must run.
func requireORT(t *testing.T) {
	t.Helper()
	err := InitORT(DefaultORTLib(".."))
	if errors.Is(err, ErrNoORT) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; CI must run bench/setup.sh first", err)
		}
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// agreeTol is the agreement bound: absolute for outputs of magnitude up to
// 1, relative above.
const agreeTol = 1e-4

// TestAgreement runs every model of the set once through Sextant and ONNX
// Runtime on the same input and checks that the outputs agree. Models
// Sextant cannot run yet are reported and skipped; every model must run
// under ORT.
func TestAgreement(t *testing.T) {
	requireORT(t)
	t.Logf("ONNX Runtime %s", LoadedORTVersion())
	for _, m := range Set() {
		t.Run(m.Name, func(t *testing.T) {
			data, err := m.Load("../models")
			if err != nil {
				t.Fatal(err)
			}
			o, err := NewORT(data, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			shapes := make([]Shape, len(o.Inputs))
			for i, in := range o.Inputs {
				shapes[i] = in.Shape
			}
			sets, err := MakeInputs(shapes, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Bind(sets); err != nil {
				t.Fatal(err)
			}
			if err := o.RunSet(0); err != nil {
				t.Fatal(err)
			}
			s, err := NewSextant(data, 1)
			var ue *UnsupportedError
			if errors.As(err, &ue) {
				t.Skipf("%s: %v", m.Name, ue)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Run(sets[0])
			if err != nil {
				t.Fatalf("sextant: %v", err)
			}
			if len(got) != len(o.Outputs) {
				t.Fatalf("sextant gave %d outputs, ORT %d", len(got), len(o.Outputs))
			}
			for j, out := range o.Outputs {
				worst, err := agree(got[j], o.Output(j), out.Shape)
				if err != nil {
					t.Errorf("output %q: %v", out.Name, err)
				}
				t.Logf("output %q %v: largest scaled difference %.3g", out.Name, out.Shape, worst)
			}
		})
	}
}

// agree compares a Sextant output with ORT's and returns the largest
// difference, scaled by max(1, |ORT's value|).
func agree(got *tensor.Tensor, want []float32, shape Shape) (float64, error) {
	if got.DType != tensor.Float32 || len(got.Shape) != len(shape) {
		return 0, fmt.Errorf("sextant output is %v %v, ORT's float %v", got.DType, got.Shape, shape)
	}
	for i, d := range got.Shape {
		if int64(d) != shape[i] {
			return 0, fmt.Errorf("sextant shape %v, ORT's %v", got.Shape, shape)
		}
	}
	g := tensor.Data[float32](got)
	worst, at := 0.0, -1
	for i := range want {
		d := math.Abs(float64(g[i])-float64(want[i])) / math.Max(1, math.Abs(float64(want[i])))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > worst || at < 0 {
			worst, at = d, i
		}
	}
	if at >= 0 && !(worst <= agreeTol) {
		return worst, fmt.Errorf("element %d: sextant %g, ORT %g (scaled difference %.3g > %g)", at, g[at], want[at], worst, agreeTol)
	}
	return worst, nil
}

// TestAgreeDetects checks that agree flags a difference above the bound, a
// NaN and a shape mismatch, and accepts one within it.
func TestAgreeDetects(t *testing.T) {
	want := []float32{0.5, -2, 1000}
	cases := []struct {
		got   []float32
		shape Shape
		ok    bool
	}{
		{[]float32{0.5 + 5e-5, -2 - 1.5e-4, 1000.05}, Shape{1, 3}, true},
		{[]float32{0.5 + 2e-4, -2, 1000}, Shape{1, 3}, false},
		{[]float32{0.5, -2, 1000.2}, Shape{1, 3}, false},
		{[]float32{0.5, float32(math.NaN()), 1000}, Shape{1, 3}, false},
		{[]float32{0.5, -2, 1000}, Shape{3, 1}, false},
	}
	for i, c := range cases {
		_, err := agree(tensor.From(c.got, 1, 3), want, c.shape)
		if (err == nil) != c.ok {
			t.Errorf("case %d: err %v, want ok=%v", i, err, c.ok)
		}
	}
}
