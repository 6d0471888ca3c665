package client

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/secagg"
	"github.com/sextant-ml/sextant/tensor"
)

// linear is pred = x·w + b (w [3,1] = 0, b [1] = 0), plus a frozen scale.
func linear() *graph.Graph {
	b := graph.NewBuilder("linear", 17)
	b.Input("x", tensor.Float32, "batch", 3)
	b.Initializer("w", tensor.From(make([]float32, 3), 3, 1))
	b.Initializer("b", tensor.From([]float32{0}, 1))
	b.Initializer("frozen", tensor.From([]float32{1, 1}, 2))
	b.Node("Add", []string{b.Op("MatMul", nil, "x", "w"), "b"}, []string{"pred"}, nil)
	b.Output("pred")
	return b.Graph()
}

// examples of y = 2·x0 − x1 + 0.5·x2 + 1.
func examples(n int) []*tensor.Tensor {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float32, 0, 3*n), make([]float32, 0, n)
	for range n {
		a, b, c := r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
		x = append(x, float32(a), float32(b), float32(c))
		y = append(y, float32(2*a-b+0.5*c+1))
	}
	return []*tensor.Tensor{tensor.From(x, n, 3), tensor.From(y, n, 1)}
}

func plan() Plan {
	return Plan{Epochs: 3, BatchSize: 8, LR: 0.05, Params: []string{"w", "b"}, Loss: LossMSE, Output: "pred", ClipNorm: 100}
}

func TestLayoutIsSorted(t *testing.T) {
	l, err := NewLayout(linear(), []string{"w", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Names) != 2 || l.Names[0] != "b" || l.Names[1] != "w" || l.Dim() != 4 {
		t.Errorf("layout %+v", l)
	}
	if _, err := NewLayout(linear(), []string{"head/*"}); err == nil {
		t.Error("a pattern matching nothing was accepted")
	}
}

// TestUnflattenInvertsFlatten: Unflatten writes a vector where Flatten
// reads it, touches no other initializer and refuses a wrong length.
func TestUnflattenInvertsFlatten(t *testing.T) {
	g := linear()
	l, err := NewLayout(g, []string{"w", "b"})
	if err != nil {
		t.Fatal(err)
	}
	w := []float32{5, 1, 2, 3} // b, then w
	if err := l.Unflatten(g, w); err != nil {
		t.Fatal(err)
	}
	got, err := l.Flatten(g)
	if err != nil {
		t.Fatal(err)
	}
	for i := range w {
		if got[i] != w[i] {
			t.Fatalf("flatten after unflatten = %v, want %v", got, w)
		}
	}
	for _, v := range g.Initializers {
		if v.Name == "frozen" && tensor.Data[float32](v.Const)[0] != 1 {
			t.Error("unflatten wrote a frozen initializer")
		}
	}
	if err := l.Unflatten(g, w[:3]); err == nil {
		t.Error("a vector of the wrong length was accepted")
	}
}

func TestTrainUpdateMovesTowardTheTruth(t *testing.T) {
	global := []float32{0.25, 0, 0, 0} // b, w0, w1, w2
	u, err := Train(context.Background(), linear(), global, plan(), examples(64), rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if u.Examples != 64 || u.Steps != 24 || u.Clipped {
		t.Errorf("update %+v", u)
	}
	// Each coordinate moves toward (1, 2, −1, 0.5) from the start.
	for j, want := range []float32{1, 2, -1, 0.5} {
		if (want-global[j])*u.Delta[j] <= 0 {
			t.Errorf("coordinate %d moved by %v, away from %v", j, u.Delta[j], want)
		}
	}
	// Starting at the truth (the global weights, not the graph's zeros,
	// are what training starts from), the update is tiny.
	at, err := Train(context.Background(), linear(), []float32{1, 2, -1, 0.5}, plan(), examples(64), nil)
	if err != nil {
		t.Fatal(err)
	}
	if at.Norm > 1e-3 || at.Loss > 1e-6 {
		t.Errorf("training from the optimum moved by %v (loss %v)", at.Norm, at.Loss)
	}
	// Zero epochs: no change.
	p := plan()
	p.Epochs = 0
	z, err := Train(context.Background(), linear(), global, p, examples(64), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range z.Delta {
		if v != 0 {
			t.Fatalf("no training gave update %v", z.Delta)
		}
	}
}

func TestClipAndFedProx(t *testing.T) {
	p := plan()
	free, err := Train(context.Background(), linear(), make([]float32, 4), p, examples(64), rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	p.ProxMu = 2
	prox, err := Train(context.Background(), linear(), make([]float32, 4), p, examples(64), rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	if !(prox.Norm < 0.9*free.Norm) {
		t.Errorf("FedProx μ = 2 left the update norm at %v (without: %v)", prox.Norm, free.Norm)
	}
	p.ProxMu, p.ClipNorm = 0, 0.5
	c, err := Train(context.Background(), linear(), make([]float32, 4), p, examples(64), rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Clipped || math.Abs(c.Norm-free.Norm) > 1e-9 || l2(c.Delta) > 0.5 || l2(c.Delta) < 0.5-1e-6 {
		t.Errorf("clipped to 0.5: norm %v → %v (clipped %v)", c.Norm, l2(c.Delta), c.Clipped)
	}
	// Direction is kept.
	for j := range c.Delta {
		if math.Abs(float64(c.Delta[j])-float64(free.Delta[j])*0.5/free.Norm) > 1e-6 {
			t.Errorf("coordinate %d: %v, want %v", j, c.Delta[j], float64(free.Delta[j])*0.5/free.Norm)
		}
	}
}

func TestSecureAndCleartext(t *testing.T) {
	u, err := Train(context.Background(), linear(), make([]float32, 4), plan(), examples(16), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Cleartext(); !errors.Is(err, ErrPlaintext) {
		t.Errorf("cleartext without opt-in: %v", err)
	}
	p := secagg.Params{Round: 1, Dim: 5, Threshold: 2, Encoding: secagg.Encoding{Clip: 100, Scale: 1 << 16}}
	if _, _, _, err := Secure(p, 1, u, nil); err == nil {
		t.Error("an update of the wrong length was accepted")
	}
	p.Dim = 4
	_, adv, clipped, err := Secure(p, 3, u, nil)
	if err != nil || adv.Head().Sender != 3 || clipped != 0 {
		t.Errorf("secure: %v, %v, clipped %d", adv, err, clipped)
	}
}

func TestJoinRate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	n := 0
	for range 100000 {
		if Join(0.3, r.Float64()) {
			n++
		}
	}
	if math.Abs(float64(n)/100000-0.3) > 0.01 {
		t.Errorf("joined %d of 100000 at q = 0.3", n)
	}
	if err := (Plan{Epochs: 1, BatchSize: 1, LR: 1, Loss: LossMSE, Output: "y"}).Validate(); err == nil {
		t.Error("a plan without a clip norm was accepted")
	}
}
