package kernels

import (
	"math"
	"testing"
)

// TestApplyAct32 checks the float32 activation pass of the fused products
// (vector kernels for Sigmoid, Tanh and the GELUs) against float64 math on
// lengths around the vector widths.
func TestApplyAct32(t *testing.T) {
	for _, name := range []string{"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "GeluTanh", "Elu"} {
		a, err := newActivation(name, 0.3, 0, true, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 33, 70, 300} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(i%23)*0.45 - 5
			}
			got := append([]float32(nil), x...)
			applyAct32(a, got)
			for i, v := range x {
				want := a.eval(float64(v))
				if d := math.Abs(float64(got[i]) - want); d > 1e-6+2e-6*math.Abs(want) {
					t.Fatalf("%s n=%d: f(%v) = %v, want %v", name, n, v, got[i], want)
				}
			}
		}
	}
}
