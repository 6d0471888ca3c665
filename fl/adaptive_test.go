package fl

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/privacy/accountant"
)

func TestAdaptiveClippingTracksQuantile(t *testing.T) {
	devs := population(50, 20, 9)
	for _, z := range []float64{0, 1.1} {
		task := simTask("sim-adaptive", ServerOptimizer{Kind: FedAvg}, z)
		task.Plan.ClipNorm = 5
		task.AdaptiveClip = &AdaptiveClip{TargetQuantile: 0.5, LR: 0.5, CountStddev: 1.3}
		s := newSimulator(t, task, devs, 21)
		var recs []RoundRecord
		for len(recs) < 20 {
			rec, err := s.round()
			if err != nil && !errors.Is(err, ErrRoundFailed) {
				t.Fatal(err)
			}
			if rec != nil {
				recs = append(recs, *rec)
			}
		}
		// Each step follows C ← C·exp(−η_C·(b̄ − γ)).
		for i := 1; i < len(recs); i++ {
			want := recs[i-1].ClipNorm * math.Exp(-0.5*(recs[i-1].Unclipped-0.5))
			if math.Abs(recs[i].ClipNorm-want) > 1e-9*want {
				t.Fatalf("z = %v, round %d: clip norm %v, want %v", z, recs[i].Round, recs[i].ClipNorm, want)
			}
		}
		last := recs[len(recs)-1]
		med := median(s.norms)
		t.Logf("z = %v: C %.3g → %.3g; the last round's median update norm %.3g", z, recs[0].ClipNorm, last.ClipNorm, med)
		if last.ClipNorm > 2*med || last.ClipNorm < med/2 {
			t.Errorf("z = %v: clip norm %.3g is not near the median update norm %.3g", z, last.ClipNorm, med)
		}
		if z > 0 {
			want, _, _ := accountant.SampledGaussianEpsilon(task.Q(), z, len(recs), 1.0/50, accountant.DefaultOrders(), accountant.Improved)
			if math.Abs(last.Epsilon-want) > 1e-9*want {
				t.Errorf("adaptive DP: ε %v, accountant %v for the total multiplier", last.Epsilon, want)
			}
		}
	}
	if err := (AdaptiveClip{TargetQuantile: 0.5, LR: 0.2}).Validate(1); err == nil {
		t.Error("adaptive clipping with noise but no count noise was accepted")
	}
	if err := (AdaptiveClip{TargetQuantile: 0.5, LR: 0.2, CountStddev: 0.1}).Validate(1); err == nil {
		t.Error("a count noise that needs more than the whole budget was accepted")
	}
}

func median(x []float64) float64 {
	y := slices.Clone(x)
	slices.Sort(y)
	return y[len(y)/2]
}
