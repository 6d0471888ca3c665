package engine

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels"
	"github.com/sextant-ml/sextant/tensor"
)

// plan is a Model specialized to one input signature. It is immutable.
type plan struct {
	// Signature.
	inShapes []tensor.Shape
	inKeys   [][]byte // raw bytes of keyed inputs, nil for others

	steps      []kernels.Step
	shapes     []tensor.Shape // per value
	dtypes     []tensor.DType // per value
	offset     []int          // arena offset per value; -1 when not in the arena
	scratch    []int          // arena offset of each node's scratch
	arenaBytes int
}

// prepareGraph readies g for compilation: a topological order, then, unless
// disabled, the standard optimization pipeline (inference, constant folding
// with the kernels, dead-code elimination, fusion). Symbolic dimensions stay
// symbolic so one compiled model serves every batch size.
func prepareGraph(g *graph.Graph, opts Options, log *slog.Logger) error {
	if opts.NoOptimize {
		if err := graph.Sort(g); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		return nil
	}
	st, err := graph.Optimize(g, Evaluator{}, graph.OptimizeOptions{})
	if err != nil {
		return fmt.Errorf("engine: optimize: %w", err)
	}
	log.Debug("optimized", "graph", g.Name, "stats", st.String())
	return nil
}

// matches reports whether inputs have p's signature. It does not allocate.
func (p *plan) matches(ins []*tensor.Tensor) bool {
	for i, t := range ins {
		if !t.Shape.Equal(p.inShapes[i]) {
			return false
		}
		if p.inKeys[i] != nil && !bytes.Equal(p.inKeys[i], t.Raw) {
			return false
		}
	}
	return true
}

// lookup returns a cached plan for ins, or nil.
func (m *Model) lookup(ins []*tensor.Tensor) *plan {
	for _, p := range *m.plans.Load() {
		if p.matches(ins) {
			return p
		}
	}
	return nil
}

// planFor returns the plan for ins, building and caching it if needed.
func (m *Model) planFor(ins []*tensor.Tensor) (*plan, error) {
	if p := m.lookup(ins); p != nil {
		return p, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.lookup(ins); p != nil {
		return p, nil
	}
	p, err := m.buildPlan(ins)
	if err != nil {
		return nil, err
	}
	old := *m.plans.Load()
	if len(old) >= maxPlans {
		old = old[1:] // the oldest plan; sessions still using it keep it
	}
	next := append(append(make([]*plan, 0, len(old)+1), old...), p)
	m.plans.Store(&next)
	return p, nil
}

// maxPlans bounds the plans a Model caches, one per input signature, so a
// model fed ever-changing shapes does not grow without limit; past it the
// oldest is dropped and rebuilt if its shape comes back.
const maxPlans = 64

// buildPlan runs the graph once on heap tensors to learn every shape, then
// lays out the arena.
func (m *Model) buildPlan(ins []*tensor.Tensor) (*plan, error) {
	p := &plan{
		inShapes: make([]tensor.Shape, len(ins)),
		inKeys:   make([][]byte, len(ins)),
		steps:    make([]kernels.Step, len(m.nodes)),
		shapes:   make([]tensor.Shape, len(m.values)),
		dtypes:   make([]tensor.DType, len(m.values)),
		offset:   make([]int, len(m.values)),
		scratch:  make([]int, len(m.nodes)),
	}
	vals := make([]*tensor.Tensor, len(m.values))
	for i, v := range m.values {
		if v.konst != nil {
			vals[i] = v.konst
		}
	}
	for i, t := range ins {
		p.inShapes[i] = t.Shape.Clone()
		if m.keyed[i] {
			p.inKeys[i] = append([]byte{}, t.Raw...)
		}
		vals[m.inputs[i]] = t
	}
	for ni := range m.nodes {
		cn := &m.nodes[ni]
		in := make([]*tensor.Tensor, len(cn.in))
		for j, id := range cn.in {
			if id < 0 {
				continue
			}
			if in[j] = vals[id]; in[j] == nil {
				return nil, &graph.NodeError{Node: cn.n, Err: fmt.Errorf("input %q has no value", m.values[id].name)}
			}
		}
		out, step, err := evalNode(cn.n, cn.kernel, m.opset, in)
		if err != nil {
			return nil, err
		}
		p.steps[ni] = step
		for j, id := range cn.out {
			if id >= 0 {
				vals[id] = out[j]
			}
		}
	}
	for i, t := range vals {
		if t != nil {
			p.shapes[i] = t.Shape
			p.dtypes[i] = t.DType
		}
	}
	if err := m.layout(p); err != nil {
		return nil, err
	}
	return p, nil
}

// buffer is one allocation request for the arena: a value or a scratch
// region, live from node first to node last inclusive.
type buffer struct {
	size, first, last int
	value, node       int // value index, or node index for scratch (value -1)
	off               int
}

// layout assigns arena offsets by liveness: largest buffers first, each at
// the lowest aligned offset that overlaps no placed buffer alive at the same
// time.
func (m *Model) layout(p *plan) error {
	last := make([]int, len(m.values))
	first := make([]int, len(m.values))
	for i := range last {
		last[i], first[i] = -1, -1
	}
	for ni, n := range m.nodes {
		for _, id := range n.out {
			if id >= 0 {
				first[id], last[id] = ni, ni
			}
		}
		for _, id := range n.in {
			if id >= 0 && last[id] < ni {
				last[id] = ni
			}
		}
	}
	end := len(m.nodes)
	for _, id := range m.outputs {
		last[id] = end
	}
	var bufs []buffer
	for id, v := range m.values {
		p.offset[id] = -1
		if v.konst != nil || v.input >= 0 || first[id] < 0 || p.dtypes[id] == tensor.String {
			continue
		}
		sz := p.shapes[id].NumElements() * p.dtypes[id].Size()
		bufs = append(bufs, buffer{size: sz, first: first[id], last: last[id], value: id, node: -1})
	}
	for ni, s := range p.steps {
		p.scratch[ni] = -1
		if s.Scratch > 0 {
			bufs = append(bufs, buffer{size: s.Scratch, first: ni, last: ni, value: -1, node: ni})
		}
	}
	sort.SliceStable(bufs, func(i, j int) bool { return bufs[i].size > bufs[j].size })
	var placed []*buffer
	total := 0
	for i := range bufs {
		b := &bufs[i]
		// Candidate offsets: 0 and the aligned end of every live-overlapping
		// placed buffer; take the lowest that fits.
		var live []*buffer
		for _, o := range placed {
			if o.first <= b.last && b.first <= o.last {
				live = append(live, o)
			}
		}
		sort.Slice(live, func(i, j int) bool { return live[i].off < live[j].off })
		off := 0
		for _, o := range live {
			if off+b.size <= o.off {
				break
			}
			off = max(off, alignUp(o.off+o.size))
		}
		b.off = off
		placed = append(placed, b)
		total = max(total, alignUp(off+b.size))
	}
	for _, b := range bufs {
		if b.value >= 0 {
			p.offset[b.value] = b.off
		} else {
			p.scratch[b.node] = b.off
		}
	}
	p.arenaBytes = total
	if m.opts.MaxArenaBytes > 0 && int64(total) > m.opts.MaxArenaBytes {
		return &ArenaBudgetError{Planned: int64(total), Budget: m.opts.MaxArenaBytes}
	}
	return nil
}

func alignUp(n int) int { return (n + tensor.Alignment - 1) &^ (tensor.Alignment - 1) }
