package engine

import (
	"context"
	"math"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// A session fed many shapes (a DP trainer's Poisson batch sizes) keeps at
// most maxBound arenas and the model at most maxPlans plans, stays
// correct, and keeps its most recently used shape without a new arena.
func TestSessionBoundsArenasAndPlans(t *testing.T) {
	g := mlp(t, 8, 16, 4)
	m, err := Compile(g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	ctx := context.Background()
	run := func(batch int) {
		t.Helper()
		x := input(batch, 8, 1.5)
		out, err := s.Run(ctx, []*tensor.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		want := reference(g, tensor.Data[float32](x), batch)
		for i, v := range tensor.Data[float32](out[0]) {
			if math.Abs(float64(v)-want[i]) > 1e-4 {
				t.Fatalf("batch %d: y[%d] = %v, want %v", batch, i, v, want[i])
			}
		}
	}
	for batch := 1; batch <= 3*maxPlans; batch++ {
		run(batch)
		run(1) // the hot shape stays most recently used
		if len(s.bound) > maxBound {
			t.Fatalf("after batch %d the session holds %d arenas, bound %d", batch, len(s.bound), maxBound)
		}
		if n := len(*m.plans.Load()); n > maxPlans {
			t.Fatalf("after batch %d the model caches %d plans, bound %d", batch, n, maxPlans)
		}
	}
	// The hot shape kept its arena through all the evictions: running it
	// again allocates nothing.
	x := input(1, 8, 1.5)
	ins := []*tensor.Tensor{x}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.Run(ctx, ins); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("the most recently used shape allocates %v per run after evictions", n)
	}
}
