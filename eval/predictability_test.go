package eval

import (
	"math"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

func TestLZEntropyByHand(t *testing.T) {
	// seq = a b a b: Λ = 1 (a new), 1 (b new), 3 (a b seen, a b _ runs
	// off the end → n−i+1 = 3), 2 (b seen before, "b" + end → n−i+1 = 2).
	seq := []int64{0, 1, 0, 1}
	want := 4 * math.Log2(4) / (1 + 1 + 3 + 2)
	if got := LZEntropy(seq); math.Abs(got-want) > 1e-12 {
		t.Errorf("LZEntropy(abab) = %v, want %v", got, want)
	}
	if got := LZEntropy([]int64{7}); got != 0 {
		t.Errorf("LZEntropy of one symbol = %v, want 0", got)
	}
}

func TestLZEntropyOrdersSequences(t *testing.T) {
	n := 400
	periodic := make([]int64, n)
	random := make([]int64, n)
	x := uint64(1)
	for i := range periodic {
		periodic[i] = int64(i % 4)
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		random[i] = int64(x % 4)
	}
	sp, sr := LZEntropy(periodic), LZEntropy(random)
	// A periodic sequence has entropy rate 0 (the estimate tends to it
	// like log n / n); i.i.d. uniform over 4 symbols has 2 bits.
	if sp > 0.3 {
		t.Errorf("periodic sequence: %v bits, want near 0", sp)
	}
	if math.Abs(sr-2) > 0.4 {
		t.Errorf("uniform random over 4 symbols: %v bits, want about 2", sr)
	}
	pp, _ := MaxPredictability(sp, 4)
	pr, _ := MaxPredictability(sr, 4)
	if pp < 0.95 || pr > 0.45 {
		t.Errorf("Π_max periodic %v (want ≈ 1), random %v (want ≈ 1/4)", pp, pr)
	}
}

func TestMaxPredictabilityInvertsFano(t *testing.T) {
	for _, n := range []int{2, 5, 40} {
		for _, pi := range []float64{0.3, 0.6, 0.9, 0.99} {
			if pi < 1/float64(n) {
				continue
			}
			s := -pi*math.Log2(pi) - (1-pi)*math.Log2(1-pi) + (1-pi)*math.Log2(float64(n-1))
			got, clamped := MaxPredictability(s, n)
			if clamped || math.Abs(got-pi) > 1e-9 {
				t.Errorf("N=%d S=%v: Π = %v (clamped %v), want %v", n, s, got, clamped, pi)
			}
		}
	}
	if p, c := MaxPredictability(5, 4); p != 0.25 || !c {
		t.Errorf("S above log2 N: Π = %v clamped %v, want 0.25 true", p, c)
	}
	if p, _ := MaxPredictability(0.5, 1); p != 1 {
		t.Errorf("one place: Π = %v, want 1", p)
	}
}

func TestUserPredictabilityAndSummary(t *testing.T) {
	users := []int64{1, 1, 1, 1, 2, 2, 2, 2}
	seq := []int64{5, 6, 5, 6, 9, 9, 9, 9}
	d, err := dataset.New([]string{"user_id", "next_place"}, []*tensor.Tensor{tensor.From(users, 8), tensor.From(seq, 8)})
	if err != nil {
		t.Fatal(err)
	}
	per, err := UserPredictability(d, "user_id", "next_place")
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != 2 || per[0].User != 1 || per[0].Distinct != 2 || per[1].Distinct != 1 || per[1].PiMax != 1 {
		t.Fatalf("per-user %+v", per)
	}
	wantS := LZEntropy([]int64{5, 6, 5, 6})
	if float64(per[0].Entropy) != wantS {
		t.Errorf("user 1 entropy %v, want %v", per[0].Entropy, wantS)
	}
	hit := []float64{1, 0, 1, 0, 1, 1, 1, 1}
	s := Summarize(per, hit)
	if s.MeanAcc1 == nil || math.Abs(float64(*s.MeanAcc1)-0.75) > 1e-12 {
		t.Fatalf("mean per-user Acc@1 %v, want 0.75", s.MeanAcc1)
	}
	meanPi := (float64(per[0].PiMax) + 1) / 2
	if math.Abs(float64(s.MeanPiMax)-meanPi) > 1e-12 || math.Abs(float64(*s.Ratio)-0.75/meanPi) > 1e-12 {
		t.Errorf("mean Π %v ratio %v", s.MeanPiMax, *s.Ratio)
	}
	if _, err := UserPredictability(d, "nope", "next_place"); err == nil {
		t.Error("a missing user column was accepted")
	}
}
