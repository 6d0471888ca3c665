package client

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train"
)

// Layout is the order of the trainable parameters in a flat update vector:
// the names, sorted, and each one's element count. Device and coordinator
// derive it the same way from the model and the plan, so it never travels.
type Layout struct {
	Names []string
	Sizes []int
}

// Dim is the length of the flat vector.
func (l Layout) Dim() int {
	n := 0
	for _, s := range l.Sizes {
		n += s
	}
	return n
}

// NewLayout selects the plan's trainable parameters of g (float32
// initializers, by train.MatchParams) in sorted order.
func NewLayout(g *graph.Graph, params []string) (Layout, error) {
	names, err := train.MatchParams(g, params)
	if err != nil {
		return Layout{}, fmt.Errorf("fl: layout: %w", err)
	}
	names = slices.Clone(names)
	slices.Sort(names)
	init := map[string]*tensor.Tensor{}
	for _, v := range g.Initializers {
		init[v.Name] = v.Const
	}
	l := Layout{Names: names}
	for _, n := range names {
		t := init[n]
		if t == nil || t.DType != tensor.Float32 {
			return Layout{}, fmt.Errorf("fl: layout: parameter %q is not a float32 initializer", n)
		}
		l.Sizes = append(l.Sizes, t.Len())
	}
	return l, nil
}

// Flatten returns the current values of g's trainable parameters as one
// vector in layout order.
func (l Layout) Flatten(g *graph.Graph) ([]float32, error) {
	init := map[string]*tensor.Tensor{}
	for _, v := range g.Initializers {
		init[v.Name] = v.Const
	}
	out := make([]float32, 0, l.Dim())
	for i, n := range l.Names {
		t := init[n]
		if t == nil || t.DType != tensor.Float32 || t.Len() != l.Sizes[i] {
			return nil, fmt.Errorf("fl: flatten: parameter %q missing or reshaped", n)
		}
		out = append(out, tensor.Data[float32](t)...)
	}
	return out, nil
}

// Unflatten writes w (a vector in layout order, as Flatten returns) into
// g's trainable parameters.
func (l Layout) Unflatten(g *graph.Graph, w []float32) error {
	if len(w) != l.Dim() {
		return fmt.Errorf("fl: unflatten: %d weights for %d trainable elements", len(w), l.Dim())
	}
	init := map[string]*tensor.Tensor{}
	for _, v := range g.Initializers {
		init[v.Name] = v.Const
	}
	off := 0
	for i, n := range l.Names {
		t := init[n]
		if t == nil || t.DType != tensor.Float32 || t.Len() != l.Sizes[i] {
			return fmt.Errorf("fl: unflatten: parameter %q missing or reshaped", n)
		}
		copy(tensor.Data[float32](t), w[off:off+l.Sizes[i]])
		off += l.Sizes[i]
	}
	return nil
}

// Update is a device's contribution to a round.
type Update struct {
	// Delta is new − old weights of the trainable set, in layout order,
	// scaled to L2 norm at most the plan's ClipNorm.
	Delta []float32
	// Norm is the L2 norm before clipping; Clipped reports that the
	// update was scaled down. Neither leaves the device.
	Norm    float64
	Clipped bool
	// Examples is the number of local examples; Steps the local steps.
	Examples, Steps int
	// Loss is the mean training loss over the last local epoch.
	Loss float64

	plaintext, unclipped bool
}

// Vector is what the device contributes to the round's sum: Delta, and with
// the plan's ReportUnclipped one more coordinate, +½ when the update was
// not clipped and −½ when it was.
func (u *Update) Vector() []float32 {
	if !u.unclipped {
		return u.Delta
	}
	b := float32(0.5)
	if u.Clipped {
		b = -0.5
	}
	return append(u.Delta[:len(u.Delta):len(u.Delta)], b)
}

// Train runs the plan's local training on the device's examples (tensors in
// the order of the model's inputs then the loss target, first axis =
// example), starting from the global weights (layout order), and returns the
// clipped update. r shuffles the batches; nil draws a seed from crypto/rand.
func Train(ctx context.Context, g *graph.Graph, global []float32, plan Plan, data []*tensor.Tensor, r *rand.Rand) (*Update, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	lay, err := NewLayout(g, plan.Params)
	if err != nil {
		return nil, err
	}
	if len(global) != lay.Dim() {
		return nil, fmt.Errorf("fl: train: %d global weights for %d trainable elements", len(global), lay.Dim())
	}
	var loss train.Loss = train.MSE{Output: plan.Output}
	if plan.Loss == LossCrossEntropy {
		loss = train.SoftmaxCrossEntropy{Output: plan.Output}
	}
	tr, err := train.New(g, train.TrainConfig{Params: lay.Names, Loss: loss, Optimizer: train.SGD{LR: plan.LR}})
	if err != nil {
		return nil, fmt.Errorf("fl: train: %w", err)
	}
	params := make([][]float32, len(lay.Names))
	off := 0
	for i, n := range lay.Names {
		t, ok := tr.Param(n)
		if !ok {
			return nil, fmt.Errorf("fl: train: trainer has no parameter %q", n)
		}
		params[i] = tensor.Data[float32](t)
		copy(params[i], global[off:off+lay.Sizes[i]])
		off += lay.Sizes[i]
	}
	u := &Update{plaintext: plan.PlaintextForSimulation, unclipped: plan.ReportUnclipped}
	if len(data) > 0 {
		u.Examples = data[0].Shape[0]
	}
	if plan.Epochs > 0 && u.Examples > 0 {
		if r == nil {
			var seed [32]byte
			crand.Read(seed[:])
			r = rand.New(rand.NewChaCha8(seed))
		}
		b, err := train.NewShuffleBatcher(data, plan.BatchSize, r)
		if err != nil {
			return nil, fmt.Errorf("fl: train: %w", err)
		}
		per := b.BatchesPerEpoch()
		var sum float64
		for s := range plan.Epochs * per {
			batch, _ := b.Next()
			l, err := tr.Step(ctx, batch)
			if err != nil {
				return nil, fmt.Errorf("fl: train: step %d: %w", s, err)
			}
			if s%per == 0 {
				sum = 0
			}
			sum += l
			if plan.ProxMu > 0 {
				prox(params, global, plan.LR*plan.ProxMu)
			}
			u.Steps++
		}
		u.Loss = sum / float64(per)
	}
	u.Delta = make([]float32, 0, lay.Dim())
	off = 0
	for _, p := range params {
		for j, w := range p {
			u.Delta = append(u.Delta, w-global[off+j])
		}
		off += len(p)
	}
	u.Norm, u.Clipped = Clip(u.Delta, plan.ClipNorm)
	return u, nil
}

// prox applies FedProx's proximal step w ← w − η·(w − w_global).
func prox(params [][]float32, global []float32, eta float64) {
	off := 0
	for _, p := range params {
		for j := range p {
			p[j] -= float32(eta * float64(p[j]-global[off+j]))
		}
		off += len(p)
	}
}

// Clip scales x in place to L2 norm at most c and returns its norm before
// scaling and whether it was scaled.
func Clip(x []float32, c float64) (norm float64, clipped bool) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	norm = math.Sqrt(ss)
	if norm <= c {
		return norm, false
	}
	f := c / norm
	for i := range x {
		x[i] = float32(float64(x[i]) * f)
	}
	// float32 rounding may leave the norm a hair above c; shrink until not.
	for l2(x) > c {
		for i := range x {
			x[i] = float32(float64(x[i]) * (1 - 1e-7))
		}
	}
	return norm, true
}

func l2(x []float32) float64 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	return math.Sqrt(ss)
}

// Cleartext returns the update for sending without secure aggregation, which
// only a plan with PlaintextForSimulation allows.
func (u *Update) Cleartext() ([]float32, error) {
	if !u.plaintext {
		return nil, ErrPlaintext
	}
	return u.Vector(), nil
}
