// Package engine compiles a graph into an executable plan and runs it.
//
// # Compile once, run many
//
// Compile checks and optimizes a graph, builds one kernel per node and, when
// every input shape is known (symbolic dims bound by Options.Dims, default 1),
// plans memory at once so the planned arena size can be reported and checked
// against a budget. The resulting Model is immutable and safe to share: each
// Session owns its arena and may run concurrently with other sessions.
//
// # Shape-specialized plans
//
// A plan is specific to the concrete shapes of the graph's inputs (and to the
// values of the few inputs whose values decide shapes, such as a Reshape
// target fed from outside). The first Run with a new signature builds one: it
// executes the graph once with freshly allocated tensors to learn every
// intermediate shape, then assigns each intermediate value, and each kernel's
// scratch memory, an offset in a single arena by liveness — values whose
// lifetimes do not overlap share bytes (greedy best fit, largest first).
// Later runs with the same signature reuse the plan and make no heap
// allocations: kernels write into arena views prepared once per session.
//
// # Threads
//
// Options.Threads > 1 gives the model a fixed pool of Threads-1 worker
// goroutines (package kernels/parallel), started once at Compile, across
// which large float32 GEMMs, GEMVs and convolutions split their rows or
// columns; the goroutine calling Run is the remaining thread. Small ops stay
// on the caller. The default is one thread, as on a phone: no workers, no
// hand-offs. Sessions of one model share its pool; a session that finds it
// busy runs the op on its own goroutine. Runs stay allocation-free and their
// results are bit-identical to one thread. The workers stop when the Model
// is garbage collected.
//
// # Budgets and profiling
//
// Options.MaxArenaBytes bounds the arena (ArenaBudgetError at compile or plan
// time); a context deadline bounds a run (checked between nodes, reported as
// a DeadlineError naming the node). Session.Profile accumulates time per node
// and per op type when Options.Profile is set.
package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels"
	"github.com/sextant-ml/sextant/kernels/parallel"
	"github.com/sextant-ml/sextant/tensor"
)

// Options configure Compile. The zero value is ready to use.
type Options struct {
	// MaxArenaBytes is the largest arena a plan may need; 0 means no limit.
	MaxArenaBytes int64
	// Dims binds symbolic dimensions (e.g. "batch") for the compile-time
	// plan. Unbound symbols default to 1.
	Dims map[string]int
	// NoOptimize skips graph optimization (folding, fusion, dead code).
	NoOptimize bool
	// Profile makes sessions time every node.
	Profile bool
	// Logger receives compile-time diagnostics; nil discards them.
	Logger *slog.Logger
	// Threads is the number of threads a run may use for one large op
	// (intra-op parallelism), counting the caller; 0 and 1 mean one.
	Threads int
}

// ArenaBudgetError reports a plan whose arena exceeds Options.MaxArenaBytes.
type ArenaBudgetError struct {
	Planned, Budget int64
}

func (e *ArenaBudgetError) Error() string {
	return fmt.Sprintf("engine: planned arena %d bytes exceeds budget %d", e.Planned, e.Budget)
}

// DeadlineError reports a run stopped by its context before finishing.
type DeadlineError struct {
	Node string // the node about to run
	Done int    // nodes completed
	Err  error  // the context's error
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("engine: run stopped before %s after %d nodes: %v", e.Node, e.Done, e.Err)
}

func (e *DeadlineError) Unwrap() error { return e.Err }

// ErrInput is wrapped by errors about inputs passed to Run.
var ErrInput = errors.New("engine: bad input")

// node is one compiled node: its kernel and the value indices it reads and
// writes (-1 for an omitted optional input or unnamed output).
type node struct {
	n      *graph.Node
	kernel kernels.Kernel
	in     []int
	out    []int
}

// value is one edge of the compiled graph.
type value struct {
	name  string
	dtype tensor.DType
	konst *tensor.Tensor // non-nil for initializers and folded constants
	input int            // graph input position, or -1
}

// Model is a compiled graph. It is immutable and safe for concurrent use.
type Model struct {
	g       *graph.Graph
	opset   int
	opts    Options
	nodes   []node
	values  []value
	inputs  []int // value index of each graph input
	outputs []int // value index of each graph output
	// keyed[i] reports whether graph input i's value (not just its shape)
	// decides some shape, so plans are keyed on it.
	keyed []bool

	mu    sync.Mutex              // serializes plan building
	plans atomic.Pointer[[]*plan] // immutable list, replaced on growth

	// StaticArena is the arena size of the compile-time plan, or -1 when
	// input shapes were not all known at compile time.
	staticArena int64
	// repacked counts kernels that packed constant weights themselves
	// because the graph carried no stored layout for them.
	repacked int
	// pool is the intra-op worker pool, nil for one thread.
	pool *parallel.Pool
}

// Repacked is the number of nodes whose constant weights were repacked at
// compile time because the graph (e.g. a bundle written by an older convert,
// or an ONNX file) did not carry them in the kernels' layout.
func (m *Model) Repacked() int { return m.repacked }

// Graph returns the optimized graph the model runs. Callers must not modify
// it.
func (m *Model) Graph() *graph.Graph { return m.g }

// InputNames returns the graph inputs' names in Run's order.
func (m *Model) InputNames() []string {
	names := make([]string, len(m.inputs))
	for i, v := range m.inputs {
		names[i] = m.values[v].name
	}
	return names
}

// OutputNames returns the graph outputs' names in Run's order.
func (m *Model) OutputNames() []string {
	names := make([]string, len(m.outputs))
	for i, v := range m.outputs {
		names[i] = m.values[v].name
	}
	return names
}

// ArenaBytes is the arena size planned at compile time, or -1 when input
// shapes were not known then.
func (m *Model) ArenaBytes() int64 { return m.staticArena }

// NumNodes is the number of nodes the model executes.
func (m *Model) NumNodes() int { return len(m.nodes) }

// Threads is the number of threads a run may use for one op (Options.Threads,
// at least 1).
func (m *Model) Threads() int { return m.pool.Threads() }

// Compile builds a Model from g. It takes ownership of g: optimization
// rewrites it in place.
func Compile(g *graph.Graph, opts Options) (*Model, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := prepareGraph(g, opts, log); err != nil {
		return nil, err
	}
	m := &Model{g: g, opset: g.Opset, opts: opts, staticArena: -1}
	if opts.Threads > 1 {
		m.pool = parallel.New(opts.Threads)
		// The workers reference the pool, not the model: when the model
		// becomes unreachable, stop them.
		runtime.AddCleanup(m, (*parallel.Pool).Close, m.pool)
	}
	if err := m.index(); err != nil {
		m.pool.Close()
		return nil, err
	}
	if m.repacked > 0 {
		log.Info("repacked constant weights at compile time; `sextant convert` stores them pre-packed", "nodes", m.repacked)
	}
	empty := []*plan{}
	m.plans.Store(&empty)
	if ins, ok := m.staticInputs(); ok {
		p, err := m.planFor(ins)
		var de *dataError
		switch {
		case errors.As(err, &de):
			// Zero inputs are not valid data for this model (e.g. a string
			// that must parse); the first real run plans instead.
			log.Debug("compile-time plan skipped", "reason", err)
		case err != nil:
			return nil, fmt.Errorf("engine: planning with static shapes: %w", err)
		default:
			m.staticArena = int64(p.arenaBytes)
			log.Debug("compiled", "nodes", len(m.nodes), "arena_bytes", p.arenaBytes)
		}
	}
	return m, nil
}

// index numbers the values, builds the kernels and finds which inputs key
// plans.
func (m *Model) index() error {
	ids := map[*graph.Value]int{}
	add := func(v *graph.Value) int {
		if id, ok := ids[v]; ok {
			return id
		}
		id := len(m.values)
		ids[v] = id
		m.values = append(m.values, value{name: v.Name, dtype: v.Type.DType, konst: v.Const, input: -1})
		return id
	}
	for i, v := range m.g.Inputs {
		id := add(v)
		m.values[id].input = i
		m.inputs = append(m.inputs, id)
	}
	for _, v := range m.g.Initializers {
		add(v)
	}
	for _, n := range m.g.Nodes {
		k, err := kernels.NewWith(n, m.opset, kernels.Config{Pool: m.pool})
		if err != nil {
			return err
		}
		if r, ok := k.(kernels.Repacker); ok && r.Repacked() {
			m.repacked++
		}
		cn := node{n: n, kernel: k}
		for _, v := range n.Inputs {
			if v == nil {
				cn.in = append(cn.in, -1)
				continue
			}
			id, ok := ids[v]
			if !ok {
				if v.Const == nil {
					return &graph.NodeError{Node: n, Err: fmt.Errorf("input %q is not computed before use", v.Name)}
				}
				id = add(v)
			}
			cn.in = append(cn.in, id)
		}
		for _, v := range n.Outputs {
			if v == nil {
				cn.out = append(cn.out, -1)
				continue
			}
			if _, dup := ids[v]; dup {
				return &graph.NodeError{Node: n, Err: fmt.Errorf("value %q is produced twice", v.Name)}
			}
			cn.out = append(cn.out, add(v))
		}
		m.nodes = append(m.nodes, cn)
	}
	for _, v := range m.g.Outputs {
		id, ok := ids[v]
		if !ok {
			return fmt.Errorf("engine: graph output %q is never computed", v.Name)
		}
		m.outputs = append(m.outputs, id)
	}
	m.keyed = m.findKeyedInputs()
	return nil
}

// findKeyedInputs marks graph inputs whose values flow into an input that
// decides a shape (graph.Schema.ValueInputs). Shape and Size read only their
// input's shape, so the walk stops there.
func (m *Model) findKeyedInputs() []bool {
	producer := make([]int, len(m.values))
	for i := range producer {
		producer[i] = -1
	}
	for i, n := range m.nodes {
		for _, o := range n.out {
			if o >= 0 {
				producer[o] = i
			}
		}
	}
	marked := make([]bool, len(m.values))
	var mark func(v int)
	mark = func(v int) {
		if v < 0 || marked[v] {
			return
		}
		marked[v] = true
		p := producer[v]
		if p < 0 {
			return
		}
		switch m.nodes[p].n.Op {
		case "Shape", "Size":
			return
		}
		for _, in := range m.nodes[p].in {
			mark(in)
		}
	}
	for _, n := range m.nodes {
		s, ok := graph.Lookup(n.n.Op)
		if !ok || s.ValueInputs == nil {
			continue
		}
		for _, pos := range s.ValueInputs(m.opset) {
			if pos < len(n.in) {
				mark(n.in[pos])
			}
		}
	}
	keyed := make([]bool, len(m.inputs))
	for i, v := range m.inputs {
		keyed[i] = marked[v]
	}
	return keyed
}

// staticInputs returns zero-filled inputs for the compile-time plan when all
// input shapes are known once symbols are bound, and no input's value decides
// a shape.
func (m *Model) staticInputs() ([]*tensor.Tensor, bool) {
	ins := make([]*tensor.Tensor, len(m.g.Inputs))
	for i, v := range m.g.Inputs {
		if m.keyed[i] || !v.Type.Known || !v.Type.DType.Valid() {
			return nil, false
		}
		shape := make([]int, len(v.Type.Shape))
		for j, d := range v.Type.Shape {
			switch {
			case d.IsFixed():
				shape[j] = int(d.Size)
			case d.Sym != "":
				n, ok := m.opts.Dims[d.Sym]
				if !ok {
					n = 1
				}
				shape[j] = n
			default:
				return nil, false
			}
		}
		ins[i] = tensor.New(v.Type.DType, shape...)
	}
	return ins, true
}
