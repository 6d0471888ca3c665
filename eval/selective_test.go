package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestFitTemperatureRecoversScale draws labels from softmax(z) and hands
// the fit logits 3z (an over-confident model): the fitted T must be near 3
// and must lower the NLL.
func TestFitTemperatureRecoversScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, k = 20000, 4
	s := Scores{Width: k, Values: make([]float64, n*k)}
	labels := make([]float64, n)
	p := make([]float64, k)
	for i := range n {
		z := s.Row(i)
		for j := range z {
			z[j] = rng.NormFloat64() * 1.5
		}
		softmax(p, z)
		u, y := rng.Float64(), 0
		for y < k-1 && u > p[y] {
			u -= p[y]
			y++
		}
		labels[i] = float64(y)
		for j := range z {
			z[j] *= 3
		}
	}
	fit, err := FitTemperature(s, labels)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(fit.Temperature-3) > 0.15 || !(fit.NLLAfter < fit.NLLBefore) {
		t.Fatalf("fit %+v, want T ≈ 3 and a lower NLL", fit)
	}
	// Binary: one logit per example, labels from σ(z), logits z/2 (under-confident).
	b := Scores{Width: 1, Values: make([]float64, n)}
	for i := range n {
		z := rng.NormFloat64() * 3
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			labels[i] = 1
		} else {
			labels[i] = 0
		}
		b.Values[i] = z / 2
	}
	fit, err = FitTemperature(b, labels)
	if err != nil || math.Abs(fit.Temperature-0.5) > 0.05 {
		t.Fatalf("binary fit %+v %v, want T ≈ 0.5", fit, err)
	}
	if _, err := FitTemperature(Scores{Width: 2, Values: []float64{0, 1}}, []float64{2}); err == nil {
		t.Fatal("label 2 of 2 classes accepted")
	}
}

func TestThresholdForRate(t *testing.T) {
	conf := []float64{0.9, 0.5, 0.7, 0.6, 0.8, 0.95, 0.99, 0.4, 0.3, 0.85}
	for _, c := range []struct{ rate, want float64 }{{0, 0.3}, {0.1, 0.4}, {0.25, 0.5}, {0.5, 0.8}, {1, 1}} {
		got, err := ThresholdForRate(conf, c.rate)
		if err != nil || got != c.want {
			t.Errorf("rate %v: %v %v, want %v", c.rate, got, err, c.want)
		}
		below := 0
		for _, x := range conf {
			if x < got {
				below++
			}
		}
		if float64(below) > c.rate*float64(len(conf)) {
			t.Errorf("rate %v: %d of %d escalate", c.rate, below, len(conf))
		}
	}
	if _, err := ThresholdForRate(conf, 1.5); err == nil {
		t.Error("rate 1.5 accepted")
	}
}

func TestRiskCoverage(t *testing.T) {
	conf := []float64{0.9, 0.8, 0.8, 0.6, 0.5}
	correct := []float64{1, 1, 0, 1, 0}
	rc := NewRiskCoverage(conf, correct, []int{0, 1, 2, 3, 4}, 100)
	want := []RiskCoveragePoint{{0.9, 0.2, 0}, {0.8, 0.6, 1.0 / 3}, {0.6, 0.8, 0.25}, {0.5, 1, 0.4}}
	if len(rc.Points) != len(want) {
		t.Fatalf("points %+v, want %+v", rc.Points, want)
	}
	for i, p := range rc.Points {
		if math.Abs(float64(p.Threshold-want[i].Threshold)) > 1e-12 || math.Abs(float64(p.Coverage-want[i].Coverage)) > 1e-12 || math.Abs(float64(p.Risk-want[i].Risk)) > 1e-12 {
			t.Fatalf("point %d %+v, want %+v", i, p, want[i])
		}
	}
	// AURC = (0 + 2·1/3 + 0.25 + 0.4) / 5
	if a := float64(rc.AURC); math.Abs(a-(2.0/3+0.65)/5) > 1e-12 {
		t.Fatalf("AURC %v", a)
	}
	r := &Report{Model: ModelInfo{Name: "m"}, RiskCoverage: rc}
	var b strings.Builder
	if err := r.WriteHTML(&b); err != nil || !strings.Contains(b.String(), `class="risk-coverage"`) {
		t.Fatalf("HTML lacks the curve: %v", err)
	}
}
