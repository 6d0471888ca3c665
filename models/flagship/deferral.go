package flagship

import (
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// ETA is a regressor, so the cascade's confidence needs a definition; a
// softmax has none to give. The question the cascade asks is "would the
// server model change this answer enough to be worth a round trip?", so
// the on-device ETA model carries a deferral head that predicts the size of
// that change:
//
//	ln δ̂ = w·route + b,   D̂ = eta_s · δ̂ (seconds),   confidence = exp(−D̂ / DeferralScale)
//
// where δ = |ln(eta_small / eta_server)| is the relative disagreement of the
// two models. The head is linear in the route features (length, free-flow
// time, turns, road-class mix, hour of day, weekday), fitted by ridge least
// squares to ln(δ + δ₀) on held-out trips of users neither model trained on
// (FitDeferral); it needs no labels, only the two models' outputs. Its
// output, "confidence", is in (0, 1] and falls as the predicted change in
// seconds grows, so the router's Score measure and the manifest's cascade
// threshold apply unchanged; the threshold is chosen on the same held-out
// trips for a target escalation rate (eval.ThresholdForRate).
//
// Why disagreement and not the small model's own error (a log-variance or
// quantile head): MAE is dominated by trip-level noise (congestion, the
// driver) that neither model can predict, so the trips where the small
// model errs most are mostly trips where the server errs as much. The gain
// from escalating trip i is |e_small| − |e_server| ≤ |eta_small − eta_server|
// (the triangle inequality), so ranking by predicted disagreement ranks by
// an upper bound of the gain, which is what a fixed escalation budget
// should buy (Chow's reject option, 1970, with the server as the fallback;
// "learning to defer", Madras et al., NeurIPS 2018).

// DeferralScale is the seconds of predicted change at which the
// confidence is 1/e.
const DeferralScale = 60.0

// deferralFloor is δ₀: it keeps ln(δ + δ₀) finite where the models agree.
const deferralFloor = 1e-3

// Deferral is a fitted deferral head.
type Deferral struct {
	// Weights has one weight per route feature; Bias is b.
	Weights []float32
	Bias    float32
}

// FitDeferral fits the head on n trips: route holds n × d route features,
// small and server the two models' eta_s. ridge (≥ 0) regularizes the
// weights, not the bias.
func FitDeferral(route []float32, d int, small, server []float64, ridge float64) (Deferral, error) {
	n := len(small)
	if n == 0 || d <= 0 || len(route) != n*d || len(server) != n {
		return Deferral{}, fmt.Errorf("flagship: deferral fit on %d route values of width %d for %d and %d outputs", len(route), d, n, len(server))
	}
	f := NewDeferralFitter(d)
	if err := f.Add(route, small, server); err != nil {
		return Deferral{}, err
	}
	return f.Fit(ridge)
}

// DeferralFitter is FitDeferral a batch of trips at a time: Add the
// batches in order, then Fit, and the head is FitDeferral's on all of
// them, bit for bit. It holds the (d+1)² normal equations, not the trips.
type DeferralFitter struct {
	d, n   int
	a, rhs []float64
	x      []float64
}

// NewDeferralFitter starts a fit on route features of width d.
func NewDeferralFitter(d int) *DeferralFitter {
	p := d + 1
	return &DeferralFitter{d: d, a: make([]float64, p*p), rhs: make([]float64, p), x: make([]float64, p)}
}

// Add adds trips: route holds len(small) × d route features, small and
// server the two models' eta_s.
func (f *DeferralFitter) Add(route []float32, small, server []float64) error {
	d, n := f.d, len(small)
	if d <= 0 || len(route) != n*d || len(server) != n {
		return fmt.Errorf("flagship: deferral fit on %d route values of width %d for %d and %d outputs", len(route), d, n, len(server))
	}
	// Normal equations (XᵀX + λI) β = Xᵀy with X = [route, 1].
	p, a, rhs, x := d+1, f.a, f.rhs, f.x
	for i := range n {
		if !(small[i] > 0 && server[i] > 0) {
			return fmt.Errorf("flagship: trip %d: non-positive ETA %v, %v", f.n+i, small[i], server[i])
		}
		y := math.Log(math.Abs(math.Log(small[i]/server[i])) + deferralFloor)
		for j := range d {
			x[j] = float64(route[i*d+j])
		}
		x[d] = 1
		for r := range p {
			rhs[r] += x[r] * y
			for c := range p {
				a[r*p+c] += x[r] * x[c]
			}
		}
	}
	f.n += n
	return nil
}

// Fit solves for the head with ridge (≥ 0) on the weights, not the bias.
// The fitter is spent.
func (f *DeferralFitter) Fit(ridge float64) (Deferral, error) {
	d, n, a := f.d, f.n, f.a
	if n == 0 {
		return Deferral{}, fmt.Errorf("flagship: deferral fit on no trips")
	}
	p := d + 1
	for j := range d {
		a[j*p+j] += ridge * float64(n)
	}
	beta, err := solve(a, f.rhs, p)
	if err != nil {
		return Deferral{}, err
	}
	w := make([]float32, d)
	for j := range d {
		w[j] = float32(beta[j])
	}
	return Deferral{Weights: w, Bias: float32(beta[d])}, nil
}

// solve solves the p × p system a·x = b by Gaussian elimination with
// partial pivoting (a and b are overwritten).
func solve(a, b []float64, p int) ([]float64, error) {
	for c := range p {
		piv := c
		for r := c + 1; r < p; r++ {
			if math.Abs(a[r*p+c]) > math.Abs(a[piv*p+c]) {
				piv = r
			}
		}
		if math.Abs(a[piv*p+c]) < 1e-12 {
			return nil, errors.New("flagship: deferral fit is singular (constant features? add ridge)")
		}
		if piv != c {
			for k := range p {
				a[c*p+k], a[piv*p+k] = a[piv*p+k], a[c*p+k]
			}
			b[c], b[piv] = b[piv], b[c]
		}
		for r := c + 1; r < p; r++ {
			f := a[r*p+c] / a[c*p+c]
			for k := c; k < p; k++ {
				a[r*p+k] -= f * a[c*p+k]
			}
			b[r] -= f * b[c]
		}
	}
	x := make([]float64, p)
	for r := p - 1; r >= 0; r-- {
		s := b[r]
		for k := r + 1; k < p; k++ {
			s -= a[r*p+k] * x[k]
		}
		x[r] = s / a[r*p+r]
	}
	return x, nil
}

// Confidence is the head's confidence for one trip, as the graph computes
// it (in float64).
func (h Deferral) Confidence(route []float32, eta float64) float64 {
	z := float64(h.Bias)
	for j, w := range h.Weights {
		z += float64(w) * float64(route[j])
	}
	return math.Exp(-eta * math.Exp(z) / DeferralScale)
}

// AddTo appends the head to a trained ETA graph (ETASmall's: input "route",
// output "eta_s") as a third output, "confidence" [batch, 1].
func (h Deferral) AddTo(g *graph.Graph) error {
	var route, eta *graph.Value
	for _, v := range g.Inputs {
		if v.Name == "route" {
			route = v
		}
	}
	for _, v := range g.Outputs {
		switch v.Name {
		case "eta_s":
			eta = v
		case "confidence":
			return errors.New("flagship: the graph already has a confidence output")
		}
	}
	if route == nil || eta == nil {
		return errors.New(`flagship: a deferral head needs an input "route" and an output "eta_s"`)
	}
	init := func(name string, t *tensor.Tensor) *graph.Value {
		v := &graph.Value{Name: name, Type: graph.ShapeOf(t.DType, t.Shape), Const: t}
		g.Initializers = append(g.Initializers, v)
		return v
	}
	w := init("deferral.weight", tensor.From(append([]float32(nil), h.Weights...), len(h.Weights), 1))
	b := init("deferral.bias", tensor.From([]float32{h.Bias}, 1))
	k := init("deferral.scale", tensor.Scalar(float32(-1/DeferralScale)))
	node := func(op, out string, ins ...*graph.Value) *graph.Value {
		n := &graph.Node{Name: out, Op: op, Attrs: map[string]*graph.Attr{}, Inputs: ins}
		v := &graph.Value{Name: out, Producer: n}
		n.Outputs = []*graph.Value{v}
		g.Nodes = append(g.Nodes, n)
		return v
	}
	z := node("Add", "deferral/z", node("MatMul", "deferral/matmul", route, w), b)
	secs := node("Mul", "deferral/seconds", eta, node("Exp", "deferral/ratio", z))
	conf := node("Exp", "confidence", node("Mul", "deferral/scaled", secs, k))
	g.Outputs = append(g.Outputs, conf)
	return graph.Infer(g, nil)
}
