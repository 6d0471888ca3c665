package kernels

import (
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/parallel"
)

// Config is what NewWith tells a kernel beyond its node.
type Config struct {
	// Pool, when it has more than one thread, lets the float32 MatMul,
	// Gemm (and their fused forms) and Conv kernels split large products
	// across its workers (package gemm decides what is large). Steps of
	// such kernels then use the pool when they run; the pool must outlive
	// them. Nil, the default, runs everything on the calling goroutine.
	Pool *parallel.Pool
}

// threaded is implemented by kernels that can use a worker pool. setPool is
// called once, before the kernel is shared.
type threaded interface {
	setPool(*parallel.Pool)
}

// NewWith builds the kernel for node n like New, configured by cfg.
func NewWith(n *graph.Node, opset int, cfg Config) (Kernel, error) {
	k, err := New(n, opset)
	if err != nil {
		return nil, err
	}
	if t, ok := k.(threaded); ok && cfg.Pool.Threads() > 1 {
		t.setPool(cfg.Pool)
	}
	return k, nil
}
