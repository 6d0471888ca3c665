package train

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/accountant"
)

// DP configures differentially private training: DP-SGD (Abadi et al. 2016,
// "Deep learning with differential privacy", Algorithm 1). Each step's
// batch is a Poisson sample of the data set at rate SampleRate (see
// PoissonBatcher); every example's gradient is clipped to L2 norm ClipNorm,
// the clipped gradients are summed, Gaussian noise of standard deviation
// NoiseMultiplier·ClipNorm is added, and the sum is divided by the expected
// batch size before the optimizer sees it.
//
// The guarantee assumes the model treats examples independently, as the
// per-example gradients are computed on that assumption: no operator may
// mix the batch's rows (a reduction over the batch axis; batch
// normalization with batch statistics, which train never emits).
//
// With PerUser set the privacy unit is the user, not the example
// (user-level DP; McMahan, Ramage, Talwar, Zhang 2018, "Learning
// differentially private recurrent language models", §2): each step
// Poisson-samples users at rate SampleRate (UserPoissonBatcher), a sampled
// user contributes m ≤ MaxPerUser of their examples with row weight 1/m in
// the mask, and each example's gradient is clipped to C and weighted, so
// the user's whole contribution — the mean of their clipped gradients — has
// norm at most C however many examples they have. That is the sampled
// Gaussian mechanism with users as the records, so the same accountant
// gives a user-level (ε, δ); ExpectedBatch is then the expected number of
// users per step.
type DP struct {
	// NoiseMultiplier is σ, ClipNorm is C.
	NoiseMultiplier, ClipNorm float64
	// SampleRate is the Poisson sampling probability q of each example per
	// step; ExpectedBatch is q·(data set size).
	SampleRate, ExpectedBatch float64
	// PerUser makes SampleRate and ExpectedBatch count users and the
	// recorded (ε, δ) user-level; the batches must come from a
	// UserPoissonBatcher (row weights summing to 1 per sampled user).
	PerUser bool
	// Delta is the δ at which ε is reported.
	Delta float64
	// Accountant is the privacy accountant (RDP with the improved
	// conversion by default, as `sextant privacy epsilon`).
	Accountant accountant.Kind
	// Rand is the noise's random source; nil draws from the operating
	// system's CSPRNG (noise.CryptoRand). Tests inject a seeded one.
	Rand *rand.Rand
}

// dpMaskName is the DP trainer's extra data input: each row's weight in
// the clipped sum — 1 for a sampled example (PoissonBatcher) or 1/m for
// one of a sampled user's m examples (UserPoissonBatcher), 0 for padding.
const dpMaskName = "dp_mask"

func (d *DP) validate(cfg TrainConfig) error {
	if !(d.ClipNorm > 0) || !(d.NoiseMultiplier >= 0) || !(d.SampleRate > 0 && d.SampleRate <= 1) || !(d.ExpectedBatch > 0) {
		return fmt.Errorf("train: DP needs ClipNorm > 0, NoiseMultiplier ≥ 0, SampleRate in (0, 1] and ExpectedBatch > 0; got %+v", *d)
	}
	if !(d.Delta > 0 && d.Delta < 1) {
		return fmt.Errorf("train: DP delta %v must be in (0, 1)", d.Delta)
	}
	if cfg.ClipNorm > 0 {
		return errors.New("train: DP clips per example; global-norm ClipNorm does not apply")
	}
	if l, ok := cfg.Loss.(SoftmaxCrossEntropy); ok && l.ClassWeights != nil {
		// The weighted mean divides by the batch's total weight, which
		// couples the examples: one example's presence would change the
		// others' clipped contributions.
		return errors.New("train: DP does not support class weights")
	}
	return nil
}

// dpRecord is a forward node that reads trainable parameters, with its
// output gradients: its parameter gradients are emitted after the clipping
// factors are known.
type dpRecord struct {
	n    *graph.Node
	dy   []*graph.Value
	need []bool // the parameter inputs
}

// backwardDP builds the gradients of params for DP-SGD: the sum over the
// batch of each example's gradient clipped to L2 norm clip, weighted by
// mask [N] (0 for padding rows). The batch-mean loss's gradient is turned
// into per-example gradients (×N, masked); the backward pass then runs as usual except that
// nodes reading parameters contribute per-example squared norms (norm
// rules below, computed from their inputs and output gradients without
// materializing per-example weight gradients); the norms give the clipping
// factors cᵢ, and each parameter gradient is that node's batch gradient of
// c⊙dY.
func backwardDP(e *emitter, loss *graph.Value, params []*graph.Value, mask *graph.Value, clip float64) ([]*graph.Value, error) {
	g := e.g
	ln := loss.Producer
	fwd := make([]*graph.Node, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		if n != ln {
			fwd = append(fwd, n)
		}
	}
	isParam := map[*graph.Value]bool{}
	for _, p := range params {
		isParam[p] = true
	}
	readers := map[*graph.Value]int{}
	for _, n := range fwd {
		for _, v := range n.Inputs {
			if isParam[v] {
				readers[v]++
			}
		}
	}
	for _, p := range params {
		if readers[p] != 1 {
			return nil, fmt.Errorf("train: DP needs each parameter read by exactly one node; %q is read %d times", p.Name, readers[p])
		}
	}
	pred := ln.Inputs[0]
	requires := requiresGrad(fwd, params)
	if !requires[pred] {
		return nil, fmt.Errorf("train: the loss %q does not depend on any trainable parameter", loss.Name)
	}
	need := make([]bool, len(ln.Inputs))
	need[0] = true
	dl, err := gradRules[ln.Op](e, ln, []*graph.Value{e.scalar(loss.Type.DType, 1)}, need)
	if err != nil {
		return nil, fmt.Errorf("train: gradient of %v: %w", ln, err)
	}
	// The mask's rows are weights (see DP.PerUser): the norms and clipping
	// factors are those of the unweighted per-example gradients (rows with
	// weight > 0), and each factor is then multiplied by its row's weight,
	// so row i contributes at most weightᵢ·C.
	live, err := e.one("Greater", nil, mask, e.scalar(mask.Type.DType, 0))
	if err != nil {
		return nil, err
	}
	if live, err = e.one("Cast", map[string]*graph.Attr{"to": graph.IntAttr(int64(mask.Type.DType))}, live); err != nil {
		return nil, err
	}
	perEx, err := e.one("DPRowScale", map[string]*graph.Attr{"rows_factor": graph.IntAttr(1)}, dl[0], live)
	if err != nil {
		return nil, err
	}
	grads := map[*graph.Value]*graph.Value{pred: perEx}
	var recs []dpRecord
	take := func(n *graph.Node, dy []*graph.Value, need []bool) ([]bool, error) {
		var taken []bool
		for j, in := range n.Inputs {
			if need[j] && isParam[in] {
				if taken == nil {
					taken = make([]bool, len(need))
				}
				taken[j] = true
			}
		}
		if taken != nil {
			recs = append(recs, dpRecord{n: n, dy: dy, need: taken})
		}
		return taken, nil
	}
	if err := walkBackward(e, fwd, requires, grads, take); err != nil {
		return nil, err
	}
	var norms []*graph.Value
	for _, r := range recs {
		s, err := dpNorms(e, r)
		if err != nil {
			return nil, err
		}
		norms = append(norms, s...)
	}
	c, err := e.one("DPClipFactor", map[string]*graph.Attr{"clip": graph.FloatAttr(float32(clip))}, norms...)
	if err != nil {
		return nil, err
	}
	if c, err = e.one("Mul", nil, c, mask); err != nil {
		return nil, err
	}
	out := map[*graph.Value]*graph.Value{}
	for _, r := range recs {
		dyc := make([]*graph.Value, len(r.dy))
		for j, d := range r.dy {
			if d != nil {
				at := map[string]*graph.Attr{"axis": graph.IntAttr(int64(outputBatchAxis(r.n, j)))}
				if dyc[j], err = e.one("DPRowScale", at, d, c); err != nil {
					return nil, err
				}
			}
		}
		dx, err := gradRules[r.n.Op](e, r.n, dyc, r.need)
		if err != nil {
			return nil, fmt.Errorf("train: gradient of %v: %w", r.n, err)
		}
		for j, ok := range r.need {
			if ok {
				out[r.n.Inputs[j]] = dx[j]
			}
		}
	}
	return gradsOf(out, params)
}

// dpNorms emits, for each parameter input of r's node, the per-example
// squared norms of its gradient ([N] over the batch axis 0).
func dpNorms(e *emitter, r dpRecord) ([]*graph.Value, error) {
	n, dy := r.n, r.dy[0]
	unsupported := func(why string) error {
		return fmt.Errorf("train: DP: no per-example gradient norm for %v (%s); supported: Gemm and MatMul weights on [N, …, K] activations, biases and scales of Add/Sub/Mul, LayerNormalization, Gather embeddings, float32 GRU (layout 0)", n, why)
	}
	if n.Op == "GRU" {
		return gruNorms(e, r, unsupported)
	}
	if dy == nil {
		return nil, unsupported("gradient only through a secondary output")
	}
	for j := 1; j < len(r.dy); j++ {
		if r.dy[j] != nil {
			return nil, unsupported("gradient through a secondary output")
		}
	}
	var out []*graph.Value
	switch n.Op {
	case "Gemm", "MatMul":
		a := n.Inputs[0]
		if r.need[0] || (n.Op == "Gemm" && n.Int("transA", 0) != 0) {
			return nil, unsupported("the trainable operand must be B, with A the batch")
		}
		if r.need[1] {
			at := map[string]*graph.Attr{}
			if n.Op == "Gemm" {
				at["alpha"] = graph.FloatAttr(n.Float("alpha", 1))
			} else if b := n.Inputs[1]; !b.Type.Known || len(b.Type.Shape) != 2 {
				return nil, unsupported("a batched weight")
			}
			s, err := e.node("DPLinearNorms", at, []*graph.Value{a, dy}, 1)
			if err != nil {
				return nil, err
			}
			out = append(out, s[0])
		}
		if len(r.need) > 2 && r.need[2] {
			s, err := e.one("DPReduceNorms", map[string]*graph.Attr{"scale": graph.FloatAttr(n.Float("beta", 1))}, dy, n.Inputs[2])
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	case "Add", "Sub", "Mul":
		for j, ok := range r.need {
			if !ok {
				continue
			}
			gj := dy
			if n.Op == "Mul" {
				var err error
				if gj, err = e.one("Mul", nil, dy, n.Inputs[1-j]); err != nil {
					return nil, err
				}
			}
			s, err := e.one("DPReduceNorms", nil, gj, n.Inputs[j])
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	case "LayerNormalization":
		if r.need[0] {
			return nil, unsupported("trainable input")
		}
		at := map[string]*graph.Attr{"ln_axis": graph.IntAttr(n.Int("axis", -1)), "epsilon": graph.FloatAttr(n.Float("epsilon", 1e-5))}
		s, err := e.node("DPLayerNormNorms", at, []*graph.Value{dy, n.Inputs[0]}, 2)
		if err != nil {
			return nil, err
		}
		for j := 1; j < len(r.need) && j < 3; j++ {
			if r.need[j] {
				out = append(out, s[j-1])
			}
		}
	case "Gather":
		if r.need[1] || n.Int("axis", 0) != 0 {
			return nil, unsupported("only axis-0 embedding lookups")
		}
		s, err := e.one("DPGatherNorms", nil, dy, n.Inputs[1], n.Inputs[0])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	default:
		return nil, unsupported("no norm rule")
	}
	return out, nil
}

// accountantName names the analysis recorded in provenance.
// A user-level guarantee says so ("rdp-sampled-gaussian-user-level").
func (d *DP) accountantName() string {
	if d.PerUser {
		return d.Accountant.String() + "-sampled-gaussian-user-level"
	}
	return d.Accountant.String() + "-sampled-gaussian"
}

// Privacy returns the (ε, δ) the DP steps taken so far have spent on the
// training data — per example, or per user with DP.PerUser — (by the configured accountant, the same computation as
// `sextant privacy epsilon`), or nil without DP or without noise (clipping
// alone gives no guarantee).
func (t *Trainer) Privacy() (*bundle.PrivacyCost, error) {
	if t.dp == nil || t.dp.cfg.NoiseMultiplier == 0 {
		return nil, nil
	}
	c := t.dp.cfg
	spec := accountant.DPSGD{Q: c.SampleRate, Steps: t.steps, Delta: c.Delta, Accountant: c.Accountant, Conversion: accountant.Improved}
	eps, _, err := spec.Epsilon(c.NoiseMultiplier)
	if err != nil {
		return nil, fmt.Errorf("train: privacy accounting: %w", err)
	}
	return &bundle.PrivacyCost{Epsilon: eps, Delta: c.Delta, Accountant: c.accountantName()}, nil
}

// outputBatchAxis is the example axis of node n's output j: axis 0, but for
// a (layout-0) GRU's Y [seq, dirs, N, H] axis 2 and Y_h [dirs, N, H] axis 1.
func outputBatchAxis(n *graph.Node, j int) int {
	if n.Op == "GRU" {
		return 2 - j
	}
	return 0
}

// gruNorms emits the per-example norms of a GRU's W, R and B gradients
// (DPGRUNorms materializes each example's gradient; see its kernel).
func gruNorms(e *emitter, r dpRecord, unsupported func(string) error) ([]*graph.Value, error) {
	n := r.n
	if n.Str("direction", "forward") != "forward" || n.Int("layout", 0) != 0 || n.HasAttr("clip") || n.HasAttr("activations") || n.Input(4) != nil {
		return nil, unsupported("only forward, layout-0 GRUs with default activations, no clip and no sequence_lens")
	}
	if r.need[0] || (len(r.need) > 5 && r.need[5]) {
		return nil, unsupported("trainable input or initial state")
	}
	var dY, dYh *graph.Value
	if len(r.dy) > 0 {
		dY = r.dy[0]
	}
	if len(r.dy) > 1 {
		dYh = r.dy[1]
	}
	at := copyAttrs(n, "hidden_size", "linear_before_reset")
	at["axis"] = graph.IntAttr(1)
	s, err := e.node("DPGRUNorms", at, []*graph.Value{dY, dYh, n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Input(3), n.Input(5)}, 3)
	if err != nil {
		return nil, err
	}
	var out []*graph.Value
	for j := 1; j <= 3 && j < len(r.need); j++ {
		if r.need[j] {
			out = append(out, s[j-1])
		}
	}
	return out, nil
}
