package train

import (
	"fmt"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// MemoryReport is what a training run needs, in bytes, known before the
// first step (New plans the arena with TrainConfig.Dims bound).
type MemoryReport struct {
	// Arena is the engine arena of the training plan: activations kept for
	// the backward pass, gradients, temporaries and kernel scratch. -1 when
	// input shapes were not all known (bind TrainConfig.Dims).
	Arena int64
	// Gradients is the part of Arena holding the dense parameter gradients
	// (one per element; sparsely updated embeddings have only their
	// gathered rows' gradient, which is batch-sized).
	Gradients int64
	// Params is the trainable parameters; OptimizerState the optimizer's
	// per-parameter state (momentum, Adam moments).
	Params, OptimizerState int64
	// Noise is DP-SGD's noise buffers (two per parameter element: the
	// step's and the next step's, drawn ahead).
	Noise int64
	// Frozen is the frozen weights, shared with the model and not counted
	// in Total.
	Frozen int64
	// Total is Arena + Params + OptimizerState + Noise, or -1 when Arena
	// is.
	Total int64
}

func (r MemoryReport) String() string {
	noise := ""
	if r.Noise > 0 {
		noise = fmt.Sprintf(", DP noise %d", r.Noise)
	}
	if r.Arena < 0 {
		// The batch dimension was not bound, so the arena (and the total)
		// is known only once the first batch arrives.
		return fmt.Sprintf("arena not planned ahead (unbound input dimensions; gradients %d), params %d, optimizer state %d%s bytes (frozen weights %d)",
			r.Gradients, r.Params, r.OptimizerState, noise, r.Frozen)
	}
	return fmt.Sprintf("arena %d (gradients %d), params %d, optimizer state %d%s, total %d bytes (frozen weights %d)",
		r.Arena, r.Gradients, r.Params, r.OptimizerState, noise, r.Total, r.Frozen)
}

// MemoryBudgetError is New's refusal of a run that needs more memory than
// TrainConfig.MemoryBudget (or whose need cannot be planned).
type MemoryBudgetError struct {
	Report MemoryReport
	Budget int64
}

func (e *MemoryBudgetError) Error() string {
	if e.Report.Total < 0 {
		return fmt.Sprintf("train: memory budget %d bytes set but the run's memory cannot be planned (unbound dimensions)", e.Budget)
	}
	return fmt.Sprintf("train: run needs %d bytes, over the budget of %d (%v)", e.Report.Total, e.Budget, e.Report)
}

func memoryReport(m *engine.Model, params []*tensor.Tensor, nOpt int, sparse []*graph.Node) MemoryReport {
	var r MemoryReport
	for i, p := range params {
		n := int64(len(p.Raw))
		r.Params += n
		r.OptimizerState += int64(nOpt) * n
		if sparse[i] == nil {
			r.Gradients += n
		}
	}
	for _, v := range m.Graph().Initializers {
		if v.Const != nil {
			r.Frozen += int64(len(v.Const.Raw))
		}
	}
	r.Arena = m.ArenaBytes()
	r.Total = -1
	if r.Arena >= 0 {
		r.Total = r.Arena + r.Params + r.OptimizerState
	}
	return r
}
