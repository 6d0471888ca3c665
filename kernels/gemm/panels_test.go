package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestMatMulPanels checks that MatMulPanels over panels packed into caller
// memory gives PackedB.MatMul's result on every set, without allocating,
// and that short panels panic.
func TestMatMulPanels(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	forEachSet(t, func(t *testing.T, ks Kernels) {
		for _, tc := range []struct{ m, k, n int }{{1, 9, 20}, {32, 81, 124}, {7, 300, 65}} {
			p := newProblem(r, tc.m, tc.k, tc.n, 0, 0, true, Relu, 0)
			panels := make([]float32, PackedLen(tc.k, tc.n)+3)
			PackBInto(panels, p.b, tc.k, tc.n, tc.n, false)
			c := p.newC()
			ks.MatMulPanels(c, p.a, panels, p.m, p.k, p.n, p.lda, p.ldc, p.bias, p.act, p.alpha)
			p.check(t, c)
			if n := testing.AllocsPerRun(5, func() {
				ks.MatMulPanels(c, p.a, panels, p.m, p.k, p.n, p.lda, p.ldc, p.bias, p.act, p.alpha)
			}); n != 0 {
				t.Errorf("%v: %v allocations per call", tc, n)
			}
		}
	})
	defer func() {
		if recover() == nil {
			t.Error("short panels did not panic")
		}
	}()
	Best().MatMulPanels(make([]float32, 6), make([]float32, 4), make([]float32, 16), 2, 2, 3, 2, 3, nil, None, 0)
}
