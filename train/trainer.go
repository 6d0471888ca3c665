package train

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// TrainConfig configures a Trainer.
type TrainConfig struct {
	// Params selects the trainable parameters among the graph's
	// floating-point initializers by exact name or path.Match glob; empty
	// trains them all. The others are frozen.
	Params []string
	Loss   Loss
	// Optimizer is SGD or Adam.
	Optimizer Optimizer
	// Schedule scales the optimizer's learning rate per step; nil is
	// constant.
	Schedule Schedule
	// ClipNorm, when positive, rescales the gradients so their global L2
	// norm is at most ClipNorm (torch.nn.utils.clip_grad_norm_).
	ClipNorm float64
	// MemoryBudget, when positive, is the most memory (arena + parameters +
	// optimizer state) the run may need; New refuses a larger one with a
	// *MemoryBudgetError.
	MemoryBudget int64
	// Dims binds symbolic dimensions (e.g. "batch") for planning memory
	// before the first step.
	Dims map[string]int
	// Seed seeds dropout; each step uses Seed + step.
	Seed int64
	// DP, when set, trains with DP-SGD: per-example clipping and Gaussian
	// noise. The data then gains the input "dp_mask" (see PoissonBatcher).
	DP *DP
}

// Trainer runs training steps of one graph. It is not safe for concurrent
// use.
type Trainer struct {
	cfg     TrainConfig
	fwd     *graph.Graph // the caller's graph (read only)
	model   *engine.Model
	sess    *engine.Session
	names   []string         // trainable parameter names
	params  []*tensor.Tensor // current values, owned by the trainer
	states  []*tensor.Tensor // optimizer state, params' order, states() each
	hyper   *tensor.Tensor
	seed    *tensor.Tensor // nil without dropout
	loss    *tensor.Tensor
	in, out []*tensor.Tensor
	nData   int // data inputs (graph inputs, then the target) at in[:nData]
	dataNms []string
	hbuf    [hyperLen]float64
	steps   int
	mem     MemoryReport
	dp      *dpState // nil without DP
	noiseAt int      // DP: the noise inputs are in[noiseAt:noiseAt+len(params)]
}

// New builds the training plan for g: the forward graph, the loss, the
// backward graph and the optimizer update, compiled into one engine plan.
// g is not modified, but the trainer keeps it (read only) for Graph and
// Checkpoint, so the caller must not change it afterwards. Its trainable
// initializers are copied: the trainer owns the parameters from here on.
func New(g *graph.Graph, cfg TrainConfig) (*Trainer, error) {
	if cfg.Loss == nil || cfg.Optimizer == nil {
		return nil, errors.New("train: TrainConfig needs a Loss and an Optimizer")
	}
	if cfg.DP != nil {
		if err := cfg.DP.validate(cfg); err != nil {
			return nil, err
		}
	}
	names, err := MatchParams(g, cfg.Params)
	if err != nil {
		return nil, err
	}
	tg := cloneGraph(g)
	if err := graph.Sort(tg); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	seed, err := rewriteDropout(tg)
	if err != nil {
		return nil, err
	}
	nGraphIn := len(tg.Inputs)
	params, inits, err := promoteParams(tg, names)
	if err != nil {
		return nil, err
	}
	// Data inputs first: move the parameters behind the target below.
	tg.Inputs = tg.Inputs[:nGraphIn]
	if err := graph.Infer(tg, nil); err != nil {
		return nil, fmt.Errorf("train: inferring the forward graph: %w", err)
	}
	pred, err := predictionOf(tg, cfg.Loss.output())
	if err != nil {
		return nil, err
	}
	e := &emitter{g: tg, prefix: "train/"}
	loss, target, err := cfg.Loss.build(e, pred)
	if err != nil {
		return nil, err
	}
	dt := params[0].Type.DType
	for _, p := range params {
		if p.Type.DType != dt {
			return nil, fmt.Errorf("train: parameters mix %v and %v", dt, p.Type.DType)
		}
	}
	dataIn := []*graph.Value{target}
	var grads []*graph.Value
	sparse := make([]*graph.Node, len(params))
	if cfg.DP != nil {
		mask := &graph.Value{Name: dpMaskName, Type: graph.Type{DType: dt, Shape: []graph.Dim{pred.Type.Shape[0]}, Known: true}}
		tg.Inputs = append(tg.Inputs, mask)
		dataIn = append(dataIn, mask)
		if grads, err = backwardDP(e, loss, params, mask, cfg.DP.ClipNorm); err != nil {
			return nil, err
		}
	} else {
		sparse = sparseEmbeddings(tg, cfg, params)
		wrt := make([]*graph.Value, len(params))
		for i, p := range params {
			wrt[i] = p
			if sparse[i] != nil {
				wrt[i] = sparse[i].Outputs[0] // the gathered rows' gradient
			}
		}
		if grads, err = Backward(tg, loss, wrt); err != nil {
			return nil, err
		}
	}
	t := &Trainer{cfg: cfg, fwd: g, names: names}
	hyperV := &graph.Value{Name: "train/hyper", Type: graph.ShapeOf(dt, tensor.Shape{hyperLen})}
	tg.Inputs = append(tg.Inputs, hyperV)
	if seed != nil {
		tg.Inputs = append(tg.Inputs, seed)
	}
	var scale *graph.Value
	if cfg.DP != nil {
		// The noised sum of clipped gradients, scaled by 1/ExpectedBatch
		// through the update's Scale input.
		scale = &graph.Value{Name: "train/dp_scale", Type: graph.ShapeOf(dt, tensor.Shape{})}
		tg.Inputs = append(tg.Inputs, scale)
		for i, p := range params {
			nv := &graph.Value{Name: "train/noise/" + p.Name, Type: p.Type}
			tg.Inputs = append(tg.Inputs, nv)
			if grads[i], err = e.one("Add", nil, grads[i], nv); err != nil {
				return nil, err
			}
		}
	} else if cfg.ClipNorm > 0 {
		if scale, err = e.one("GlobalNormScale", map[string]*graph.Attr{"max_norm": graph.FloatAttr(float32(cfg.ClipNorm))}, grads...); err != nil {
			return nil, err
		}
	}
	nOpt := cfg.Optimizer.states()
	stateVals := make([]*graph.Value, 0, len(params)*nOpt)
	for _, p := range params {
		for k := 0; k < nOpt; k++ {
			stateVals = append(stateVals, &graph.Value{Name: fmt.Sprintf("train/state%d/%s", k, p.Name), Type: p.Type})
		}
	}
	tg.Inputs = append(append(tg.Inputs, params...), stateVals...)
	outs, err := emitUpdates(e, cfg, params, grads, stateVals, hyperV, scale, sparse)
	if err != nil {
		return nil, err
	}
	tg.Outputs = append([]*graph.Value{loss}, outs...)
	t.dataNms = make([]string, 0, nGraphIn+1)
	for _, v := range tg.Inputs[:nGraphIn] {
		t.dataNms = append(t.dataNms, v.Name)
	}
	for _, v := range dataIn {
		t.dataNms = append(t.dataNms, v.Name)
	}
	t.nData = len(t.dataNms)

	m, err := engine.Compile(tg, engine.Options{NoOptimize: true, Dims: cfg.Dims})
	if err != nil {
		return nil, fmt.Errorf("train: compiling the training plan: %w", err)
	}
	if err := checkUpdatesLast(m.Graph(), params, stateVals); err != nil {
		return nil, err
	}
	t.model, t.sess = m, m.NewSession()
	t.mem = memoryReport(m, inits, nOpt, sparse)
	if cfg.DP != nil {
		if t.dp, err = newDPState(*cfg.DP, inits, dt); err != nil {
			return nil, err
		}
		for _, p := range inits {
			t.mem.Noise += 2 * int64(len(p.Raw)) // this step's and the next's
		}
		if t.mem.Total >= 0 {
			t.mem.Total += t.mem.Noise
		}
	}
	if cfg.MemoryBudget > 0 && (t.mem.Total < 0 || t.mem.Total > cfg.MemoryBudget) {
		return nil, &MemoryBudgetError{Report: t.mem, Budget: cfg.MemoryBudget}
	}
	t.allocate(inits, seed != nil, nOpt, dt)
	stopWhenUnreachable(t)
	return t, nil
}

// allocate creates the trainer-owned tensors and the fixed input and output
// lists Step hands the engine.
func (t *Trainer) allocate(inits []*tensor.Tensor, dropout bool, nOpt int, dt tensor.DType) {
	t.hyper = tensor.New(dt, hyperLen)
	t.loss = tensor.New(dt)
	t.in = make([]*tensor.Tensor, t.nData, t.nData+3+len(inits)*(2+nOpt))
	t.in = append(t.in, t.hyper)
	if dropout {
		t.seed = tensor.New(tensor.Int64)
		t.in = append(t.in, t.seed)
	}
	if t.dp != nil {
		t.in = append(t.in, t.dp.scale)
		t.noiseAt = len(t.in)
		t.in = append(t.in, t.dp.noises()...)
	}
	t.out = append(t.out, t.loss)
	for _, p := range inits {
		c := p.Clone()
		t.params = append(t.params, c)
	}
	for _, p := range t.params {
		for k := 0; k < nOpt; k++ {
			t.states = append(t.states, tensor.New(p.DType, p.Shape...))
		}
	}
	t.in = append(append(t.in, t.params...), t.states...)
	// The updates write P' into P's buffer and State' into State's.
	t.out = append(append(t.out, t.params...), t.states...)
}

// predictionOf finds the graph output named name ("" for the first).
func predictionOf(g *graph.Graph, name string) (*graph.Value, error) {
	for _, v := range g.Outputs {
		if name == "" || v.Name == name {
			return v, nil
		}
	}
	return nil, fmt.Errorf("train: the graph has no output %q", name)
}

// DataNames lists the tensors Step takes, in order: the graph's inputs, then
// the loss's target ("labels" or "target").
func (t *Trainer) DataNames() []string { return t.dataNms }

// Memory reports what the training run needs.
func (t *Trainer) Memory() MemoryReport { return t.mem }

// Steps is the number of steps taken.
func (t *Trainer) Steps() int { return t.steps }

// ParamNames lists the trainable parameters.
func (t *Trainer) ParamNames() []string { return t.names }

// Param returns the current value of trainable parameter name (the
// trainer's own tensor: read it between steps, do not keep it across one).
func (t *Trainer) Param(name string) (*tensor.Tensor, bool) {
	for i, n := range t.names {
		if n == name {
			return t.params[i], true
		}
	}
	return nil, false
}

// LearningRate is the rate the next step will use.
func (t *Trainer) LearningRate() float64 {
	lr := t.cfg.Optimizer.learningRate()
	if t.cfg.Schedule != nil {
		lr *= t.cfg.Schedule.Factor(t.steps)
	}
	return lr
}

// Step runs one training step on a batch (tensors in DataNames order) and
// returns the loss before the update. With a batch shape seen before it
// makes no heap allocations.
func (t *Trainer) Step(ctx context.Context, batch []*tensor.Tensor) (float64, error) {
	if len(batch) != t.nData {
		return 0, fmt.Errorf("%w: got %d batch tensors, want %d (%v)", engine.ErrInput, len(batch), t.nData, t.dataNms)
	}
	copy(t.in, batch)
	t.cfg.Optimizer.hyper(t.steps+1, t.LearningRate(), t.hbuf[:])
	for i, v := range t.hbuf {
		setFloat(t.hyper, i, v)
	}
	if t.seed != nil {
		tensor.Data[int64](t.seed)[0] = t.cfg.Seed + int64(t.steps)
	}
	if t.dp != nil {
		t.dp.next(t.in[t.noiseAt : t.noiseAt+len(t.params)])
	}
	err := t.sess.RunInto(ctx, t.in, t.out)
	clear(t.in[:t.nData])
	if err != nil {
		return 0, fmt.Errorf("train: step %d: %w", t.steps+1, err)
	}
	t.steps++
	loss := t.loss.Float64At(0)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("train: step %d: loss is %v", t.steps, loss)
	}
	return loss, nil
}

// emitUpdates adds one update node per parameter, with the gradients
// multiplied by scale (global-norm clipping, DP's 1/ExpectedBatch) when it is
// not nil, and returns the updated parameters then the updated
// states (in stateVals' order). A parameter with a sparse Gather gets a
// SparseRowSGD of its gathered rows' gradient instead.
func emitUpdates(e *emitter, cfg TrainConfig, params, grads, stateVals []*graph.Value, hyper, scale *graph.Value, sparse []*graph.Node) ([]*graph.Value, error) {
	o := cfg.Optimizer
	nOpt := o.states()
	newP := make([]*graph.Value, len(params))
	newS := make([]*graph.Value, 0, len(stateVals))
	for i, p := range params {
		if g := sparse[i]; g != nil {
			up, err := e.one("SparseRowSGD", nil, p, grads[i], g.Inputs[1], hyper)
			if err != nil {
				return nil, err
			}
			newP[i] = up
			continue
		}
		ins := append([]*graph.Value{p, grads[i], hyper, scale}, stateVals[i*nOpt:(i+1)*nOpt]...)
		outs, err := e.node(o.op(), o.attrs(), ins, 1+nOpt)
		if err != nil {
			return nil, err
		}
		newP[i] = outs[0]
		newS = append(newS, outs[1:]...)
	}
	return append(newP, newS...), nil
}

// checkUpdatesLast verifies that the node updating each parameter or state
// in place runs after every other node that reads it.
func checkUpdatesLast(g *graph.Graph, params, states []*graph.Value) error {
	last := map[*graph.Value]int{}
	update := map[*graph.Value]int{}
	for i, n := range g.Nodes {
		for _, v := range n.Inputs {
			if v == nil {
				continue
			}
			if n.Op == "SGDUpdate" || n.Op == "AdamUpdate" || n.Op == "SparseRowSGD" {
				update[v] = i
			} else {
				last[v] = i
			}
		}
	}
	for _, v := range append(append([]*graph.Value(nil), params...), states...) {
		if u, ok := update[v]; !ok || last[v] > u {
			return fmt.Errorf("train: the update of %q does not run after all its readers", v.Name)
		}
	}
	return nil
}

// rewriteDropout turns each Dropout into DropoutTrain fed by a seed value,
// which it returns (nil when the graph has no dropout) for the caller to
// make a graph input.
func rewriteDropout(g *graph.Graph) (*graph.Value, error) {
	var seed *graph.Value
	for i, n := range g.Nodes {
		if n.Op != "Dropout" {
			continue
		}
		if len(n.Outputs) > 1 && n.Outputs[1] != nil {
			return nil, fmt.Errorf("train: %v: a Dropout whose mask output is used is not supported", n)
		}
		ratio := float64(n.Float("ratio", 0.5))
		if r := n.Input(1); r != nil {
			c := graph.ConstValue(r)
			if c == nil {
				return nil, fmt.Errorf("train: %v: the dropout ratio must be constant", n)
			}
			ratio = c.Float64At(0)
		}
		if seed == nil {
			seed = &graph.Value{Name: "train/seed", Type: graph.ShapeOf(tensor.Int64, tensor.Shape{})}
		}
		mask := &graph.Value{Name: n.Outputs[0].Name + "/mask", Producer: n}
		n.Op, n.Domain = "DropoutTrain", graph.SextantDomain
		n.Attrs = map[string]*graph.Attr{"ratio": graph.FloatAttr(float32(ratio)), "seed": graph.IntAttr(int64(i))}
		n.Inputs = []*graph.Value{n.Inputs[0], seed}
		n.Outputs = []*graph.Value{n.Outputs[0], mask}
	}
	return seed, nil
}

// sparseEmbeddings finds, per parameter, the Gather node through which an
// embedding table gets sparse row updates, or nil. A table qualifies when
// its only reader is one Gather along axis 0 and the update is plain SGD
// (no momentum, weight decay or clipping), for which updating only the
// gathered rows equals the dense update.
func sparseEmbeddings(g *graph.Graph, cfg TrainConfig, params []*graph.Value) []*graph.Node {
	out := make([]*graph.Node, len(params))
	sgd, ok := cfg.Optimizer.(SGD)
	if !ok || sgd.Momentum != 0 || sgd.WeightDecay != 0 || cfg.ClipNorm > 0 {
		return out
	}
	readers := map[*graph.Value][]*graph.Node{}
	for _, n := range g.Nodes {
		for _, v := range n.Inputs {
			if v != nil {
				readers[v] = append(readers[v], n)
			}
		}
	}
	outputs := map[*graph.Value]bool{}
	for _, v := range g.Outputs {
		outputs[v] = true
	}
	for i, p := range params {
		r := readers[p]
		if len(r) == 1 && r[0].Op == "Gather" && r[0].Inputs[0] == p && r[0].Inputs[1] != p && r[0].Int("axis", 0) == 0 && !outputs[p] {
			out[i] = r[0]
		}
	}
	return out
}
