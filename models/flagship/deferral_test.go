package flagship

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train/arch"
)

// TestFitDeferralRecoversDisagreement: when the server's answer differs
// from the device's by a relative δ with ln δ linear in the route
// features, the fit recovers the weights, and the graph's confidence
// output equals Confidence.
func TestFitDeferralRecoversDisagreement(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, d = 4000, 3
	w := []float64{0.8, -0.5, 0.3}
	const b = -2.5
	route := make([]float32, n*d)
	small, server := make([]float64, n), make([]float64, n)
	for i := range n {
		z := b
		for j := range d {
			route[i*d+j] = float32(rng.NormFloat64())
			z += w[j] * float64(route[i*d+j])
		}
		small[i] = 100 + 900*rng.Float64()
		sign := 1.0
		if i%2 == 1 {
			sign = -1
		}
		// δ = exp(z) exactly (less the floor δ₀ the fit adds).
		server[i] = small[i] * math.Exp(sign*(math.Exp(z)-deferralFloor))
	}
	h, err := FitDeferral(route, d, small, server, 0)
	if err != nil {
		t.Fatal(err)
	}
	for j := range d {
		if math.Abs(float64(h.Weights[j])-w[j]) > 1e-3 {
			t.Fatalf("weights %v, want %v", h.Weights, w)
		}
	}
	if math.Abs(float64(h.Bias)-b) > 1e-3 {
		t.Fatalf("bias %v, want %v", h.Bias, b)
	}
	if _, err := FitDeferral(route, d, small, server[:10], 0); err == nil {
		t.Fatal("mismatched lengths accepted")
	}

	m, err := ETASmall(arch.Spec{Rand: rand.New(rand.NewPCG(3, 4))})
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	head := Deferral{Weights: make([]float32, featuresWidth(g)), Bias: -1}
	for j := range head.Weights {
		head.Weights[j] = float32(0.1 * rng.NormFloat64())
	}
	if err := head.AddTo(g); err != nil {
		t.Fatal(err)
	}
	if err := head.AddTo(g); err == nil {
		t.Fatal("a second head accepted")
	}
	cm, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fw := len(head.Weights)
	x := make([]float32, 5*fw)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	ff := []float32{100, 300, 600, 900, 1500}
	out, err := cm.NewSession().RunNamed(context.Background(), map[string]*tensor.Tensor{"route": tensor.From(x, 5, fw), "free_flow_s": tensor.From(ff, 5)})
	if err != nil {
		t.Fatal(err)
	}
	eta, conf := tensor.Data[float32](out["eta_s"]), tensor.Data[float32](out["confidence"])
	for i := range 5 {
		want := head.Confidence(x[i*fw:(i+1)*fw], float64(eta[i]))
		if math.Abs(float64(conf[i])-want) > 1e-5*math.Max(1, want) {
			t.Fatalf("trip %d: graph %v, Confidence %v", i, conf[i], want)
		}
	}
}

// featuresWidth is the width of the graph's "route" input.
func featuresWidth(g *graph.Graph) int {
	for _, v := range g.Inputs {
		if v.Name == "route" {
			return int(v.Type.Shape[1].Size)
		}
	}
	return 0
}
