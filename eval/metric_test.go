package eval

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.6f, want %.6f", name, got, want)
	}
}

// metricValue computes a metric over every example.
func metricValue(t *testing.T, name string, o *Outputs) float64 {
	t.Helper()
	m, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.PerExample(o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m.Aggregate(v, All(v.Len()).Index, nil)
}

func TestRankingMetricsByHand(t *testing.T) {
	// Logits for three examples; the labels' ranks are 1, 2 and 3 (the last
	// example is a three-way tie, broken by index).
	s := Scores{Width: 3, Values: []float64{2, 1, 0, 0, 3, 1, 1, 1, 1}}
	o, err := NewOutputs(Ranking, Logits, s, []float64{0, 2, 2})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "acc@1", metricValue(t, "acc@1", o), 1.0/3, 1e-12)
	near(t, "acc@2", metricValue(t, "acc@2", o), 2.0/3, 1e-12)
	near(t, "acc@3", metricValue(t, "accuracy", o), 1.0/3, 1e-12)
	near(t, "mrr", metricValue(t, "mrr", o), (1+0.5+1.0/3)/3, 1e-12)
	near(t, "ndcg@2", metricValue(t, "ndcg@2", o), (1+1/math.Log2(3))/3, 1e-12)
	near(t, "ndcg@3", metricValue(t, "NDCG@3", o), (1+1/math.Log2(3)+1/math.Log2(4))/3, 1e-12)

	e := math.E
	p0 := e * e / (e*e + e + 1)       // example 0, label 0
	p1 := e / (1 + e*e*e + e)         // example 1, label 2
	c1 := e * e * e / (1 + e*e*e + e) // example 1's confidence (class 1)
	near(t, "log-loss", metricValue(t, "log_loss", o), (-math.Log(p0)-math.Log(p1)+math.Log(3))/3, 1e-12)
	// 10 bins: confidences 0.665 (correct), 0.844 (wrong), 1/3 (wrong, the
	// tie predicts class 0) fall in three different bins.
	near(t, "ece/10", metricValue(t, "ece/10", o), ((1-p0)+c1+1.0/3)/3, 1e-12)
	// One bin: |mean correct − mean confidence|.
	near(t, "ece/1", metricValue(t, "ece/1", o), math.Abs(1.0/3-(p0+c1+1.0/3)/3), 1e-12)
}

func TestProbabilityScoresAndBinary(t *testing.T) {
	// A single score per example is P(class 1).
	s := Scores{Width: 1, Values: []float64{0.8, 0.3, 0.5}}
	o, err := NewOutputs(Classification, AutoScores, s, []float64{1, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != Probabilities {
		t.Fatalf("kind %v, want probabilities", o.Kind)
	}
	// 0.8 → class 1 (right), 0.3 → class 0 (wrong), 0.5 tie → class 0 (right).
	near(t, "acc@1", metricValue(t, "acc@1", o), 2.0/3, 1e-12)
	near(t, "log-loss", metricValue(t, "log-loss", o), (-math.Log(0.8)-math.Log(0.3)-math.Log(0.5))/3, 1e-12)

	// Logits as a single score: sigmoid.
	o, _ = NewOutputs(Classification, Logits, Scores{Width: 1, Values: []float64{2}}, []float64{1})
	near(t, "binary logit log-loss", metricValue(t, "log-loss", o), math.Log(1+math.Exp(-2)), 1e-12)

	// A confidently wrong probability is clipped.
	o, _ = NewOutputs(Classification, Probabilities, Scores{Width: 2, Values: []float64{1, 0}}, []float64{1})
	near(t, "clipped log-loss", metricValue(t, "log-loss", o), -math.Log(LogLossEpsilon), 1e-9)

	if _, err := (accAt{k: 1}).PerExample(mustOutputs(t, Ranking, Scores{Width: 2, Values: []float64{1, 2}}, []float64{2})); err == nil {
		t.Error("a label outside [0, K) was accepted")
	}
}

func mustOutputs(t *testing.T, task Task, s Scores, labels []float64) *Outputs {
	t.Helper()
	o, err := NewOutputs(task, Logits, s, labels)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRegressionMetricsByHand(t *testing.T) {
	s := Scores{Width: 1, Values: []float64{1.5, 1, 0.5, 4}}
	o := mustOutputs(t, Regression, s, []float64{1, 2, 0, 4})
	near(t, "mae", metricValue(t, "mae", o), 0.5, 1e-12)
	near(t, "rmse", metricValue(t, "rmse", o), math.Sqrt(0.375), 1e-12)
	// The zero label is left out: (0.5/1 + 1/2 + 0/4) / 3.
	near(t, "mape", metricValue(t, "mape", o), 1.0/3, 1e-12)
	// |errors| sorted 0, .5, .5, 1; h = 3·0.9 = 2.7 → .5 + .7·(1 − .5).
	near(t, "p90", metricValue(t, "p90-abs-error", o), 0.85, 1e-12)

	if _, err := Lookup("acc@0"); err == nil {
		t.Error("acc@0 accepted")
	}
	if _, err := Lookup("f1"); err == nil {
		t.Error("unknown metric accepted")
	}
	if _, err := (mae{}).PerExample(mustOutputs(t, Ranking, Scores{Width: 2, Values: []float64{1, 2}}, []float64{1})); err == nil {
		t.Error("mae accepted a ranking task")
	}
}

func TestQuantileMatchesSortedDefinition7(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 60; n++ {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = math.Round(rng.NormFloat64() * 3) // ties on purpose
		}
		sorted := slices.Sorted(slices.Values(xs))
		for _, q := range []float64{0, 0.025, 0.5, 0.9, 0.975, 1} {
			h := float64(n-1) * q
			lo := int(math.Floor(h))
			want := sorted[lo]
			if lo+1 < n {
				want += (h - float64(lo)) * (sorted[lo+1] - sorted[lo])
			}
			if got := Quantile(slices.Clone(xs), q); math.Abs(got-want) > 1e-12 {
				t.Fatalf("n=%d q=%v: %v, want %v", n, q, got, want)
			}
		}
	}
}

func TestReliabilityBins(t *testing.T) {
	// Probabilities with confidences 0.95, 0.95, 0.55 in 10 bins.
	s := Scores{Width: 2, Values: []float64{0.95, 0.05, 0.05, 0.95, 0.55, 0.45}}
	o, _ := NewOutputs(Classification, Probabilities, s, []float64{0, 0, 0})
	bins, err := Reliability(o, All(3).Index, 10)
	if err != nil {
		t.Fatal(err)
	}
	if bins[9].Count != 2 || bins[5].Count != 1 {
		t.Fatalf("bins %+v", bins)
	}
	near(t, "bin 9 accuracy", float64(bins[9].Accuracy), 0.5, 1e-12)
	near(t, "bin 9 confidence", float64(bins[9].Confidence), 0.95, 1e-12)
	if !math.IsNaN(float64(bins[0].Accuracy)) {
		t.Error("an empty bin has an accuracy")
	}
}
