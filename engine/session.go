package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/tensor"
)

// Session runs a Model. A Session is not safe for concurrent use; create one
// per goroutine (they share the Model's kernels and plans, and each owns its
// arena).
type Session struct {
	m     *Model
	bound []*bound
	prof  *Profile
}

// bound is a plan with this session's arena and tensor views.
type bound struct {
	p       *plan
	arena   []byte
	vals    []*tensor.Tensor   // per value; input values are session-owned slots
	ins     [][]*tensor.Tensor // per node
	outs    [][]*tensor.Tensor // per node
	scratch [][]byte           // per node
	outputs []*tensor.Tensor   // per graph output
}

// NewSession returns a session with no arena yet; the first Run for each
// input signature allocates one.
func (m *Model) NewSession() *Session {
	s := &Session{m: m}
	if m.opts.Profile {
		s.prof = newProfile(m)
	}
	return s
}

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

// Run computes the graph's outputs for inputs given in InputNames order. The
// returned tensors, and the slice holding them, belong to the session: they
// stay valid until the next Run and must be copied (Tensor.Clone) to keep.
// Inputs are read in place and must not change during the call.
//
// In steady state (an input signature seen before) Run makes no heap
// allocations.
func (s *Session) Run(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	b, err := s.bindChecked(inputs)
	if err != nil {
		return nil, err
	}
	return s.run(ctx, b, inputs)
}

// bindChecked validates inputs and returns the binding of their plan.
func (s *Session) bindChecked(inputs []*tensor.Tensor) (*bound, error) {
	m := s.m
	if len(inputs) != len(m.inputs) {
		return nil, fmt.Errorf("%w: got %d inputs, want %d (%v)", ErrInput, len(inputs), len(m.inputs), m.InputNames())
	}
	for i, t := range inputs {
		v := &m.values[m.inputs[i]]
		if t == nil {
			return nil, fmt.Errorf("%w: input %q is nil", ErrInput, v.name)
		}
		if v.dtype != tensor.Undefined && t.DType != v.dtype {
			return nil, fmt.Errorf("%w: input %q has dtype %v, want %v", ErrInput, v.name, t.DType, v.dtype)
		}
		if err := s.checkInput(i, t); err != nil {
			return nil, err
		}
	}
	return s.bind(inputs)
}

// run executes the bound plan on inputs.
func (s *Session) run(ctx context.Context, b *bound, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	m := s.m
	for i, id := range m.inputs {
		*b.vals[id] = *inputs[i]
	}
	done := ctx.Done()
	for ni := range m.nodes {
		if done != nil {
			select {
			case <-done:
				return nil, &DeadlineError{Node: m.nodes[ni].n.String(), Done: ni, Err: ctx.Err()}
			default:
			}
		}
		var t0 time.Time
		if s.prof != nil {
			t0 = time.Now()
		}
		if err := b.p.steps[ni].Run(b.ins[ni], b.outs[ni], b.scratch[ni]); err != nil {
			return nil, fmt.Errorf("engine: %v: %w", m.nodes[ni].n, err)
		}
		if s.prof != nil {
			s.prof.add(ni, time.Since(t0))
		}
	}
	if s.prof != nil {
		s.prof.runs++
	}
	return b.outputs, nil
}

// checkInput validates an input's data length against its shape and the
// declared fixed dims. It does not allocate on success.
func (s *Session) checkInput(i int, t *tensor.Tensor) error {
	v := s.m.g.Inputs[i]
	if err := t.Check(); err != nil {
		return fmt.Errorf("%w: input %q: %v", ErrInput, v.Name, err)
	}
	if !v.Type.Known {
		return nil
	}
	if len(t.Shape) != len(v.Type.Shape) {
		return fmt.Errorf("%w: input %q has rank %d, want %v", ErrInput, v.Name, len(t.Shape), v.Type)
	}
	for j, d := range v.Type.Shape {
		if d.IsFixed() && int64(t.Shape[j]) != d.Size {
			return fmt.Errorf("%w: input %q has shape %v, want %v", ErrInput, v.Name, t.Shape, v.Type)
		}
	}
	if !tensor.IsAligned(t.Raw, max(t.DType.Size(), 1)) {
		return fmt.Errorf("%w: input %q data is not aligned to its element size", ErrInput, v.Name)
	}
	return nil
}

// bind returns this session's binding of the plan for inputs, creating it on
// first use of the signature.
func (s *Session) bind(inputs []*tensor.Tensor) (*bound, error) {
	for i, b := range s.bound {
		if b.p.matches(inputs) {
			if i > 0 {
				// Most recently used first (no allocation): the one an
				// eviction drops is the least recently used.
				copy(s.bound[1:i+1], s.bound[:i])
				s.bound[0] = b
			}
			return b, nil
		}
	}
	p, err := s.m.planFor(inputs)
	if err != nil {
		return nil, err
	}
	b := s.m.newBound(p)
	if len(s.bound) < maxBound {
		s.bound = append(s.bound, nil)
	}
	copy(s.bound[1:], s.bound)
	s.bound[0] = b
	return b, nil
}

// maxBound is how many input signatures a session keeps an arena for. A
// model run with ever-changing shapes (a DP-SGD trainer's Poisson-sampled
// batches) would otherwise keep one arena per batch size it ever saw: 2.4
// GB of the demo's prior training at 10,000 users. Past the bound the
// least recently used arena is dropped (and freed once no output of it is
// held), at the cost of a fresh arena when its shape comes back.
const maxBound = 8

func (m *Model) newBound(p *plan) *bound {
	b := &bound{
		p:       p,
		arena:   tensor.AlignedBytes(p.arenaBytes),
		vals:    make([]*tensor.Tensor, len(m.values)),
		ins:     make([][]*tensor.Tensor, len(m.nodes)),
		outs:    make([][]*tensor.Tensor, len(m.nodes)),
		scratch: make([][]byte, len(m.nodes)),
		outputs: make([]*tensor.Tensor, len(m.outputs)),
	}
	for id, v := range m.values {
		switch {
		case v.konst != nil:
			b.vals[id] = v.konst
		case v.input >= 0:
			b.vals[id] = &tensor.Tensor{}
		case p.offset[id] >= 0:
			n := p.shapes[id].NumElements() * p.dtypes[id].Size()
			b.vals[id] = &tensor.Tensor{DType: p.dtypes[id], Shape: p.shapes[id], Raw: b.arena[p.offset[id] : p.offset[id]+n : p.offset[id]+n]}
		case p.dtypes[id] == tensor.String:
			b.vals[id] = &tensor.Tensor{DType: tensor.String, Shape: p.shapes[id], Strs: make([]string, p.shapes[id].NumElements())}
		}
	}
	for ni, n := range m.nodes {
		b.ins[ni] = make([]*tensor.Tensor, len(n.in))
		for j, id := range n.in {
			if id >= 0 {
				b.ins[ni][j] = b.vals[id]
			}
		}
		b.outs[ni] = make([]*tensor.Tensor, len(n.out))
		for j, id := range n.out {
			if id >= 0 {
				b.outs[ni][j] = b.vals[id]
			}
		}
		if off := p.scratch[ni]; off >= 0 {
			sz := p.steps[ni].Scratch
			b.scratch[ni] = b.arena[off : off+sz : off+sz]
		}
	}
	for i, id := range m.outputs {
		b.outputs[i] = b.vals[id]
	}
	return b
}

// RunNamed is Run with inputs and outputs by name. It allocates the result
// map; use Run on hot paths.
func (s *Session) RunNamed(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	names := s.m.InputNames()
	ins := make([]*tensor.Tensor, len(names))
	for i, n := range names {
		t, ok := inputs[n]
		if !ok {
			return nil, fmt.Errorf("%w: missing input %q", ErrInput, n)
		}
		ins[i] = t
	}
	if len(inputs) != len(names) {
		for n := range inputs {
			found := false
			for _, want := range names {
				found = found || n == want
			}
			if !found {
				return nil, fmt.Errorf("%w: unknown input %q (model inputs: %v)", ErrInput, n, names)
			}
		}
	}
	outs, err := s.Run(ctx, ins)
	if err != nil {
		return nil, err
	}
	res := make(map[string]*tensor.Tensor, len(outs))
	for i, n := range s.m.OutputNames() {
		res[n] = outs[i]
	}
	return res, nil
}

// ArenaBytes is the total arena memory this session holds.
func (s *Session) ArenaBytes() int {
	n := 0
	for _, b := range s.bound {
		n += len(b.arena)
	}
	return n
}

// RunInto is Run writing the outputs into caller-owned tensors, which must
// have the dtypes and shapes the outputs will have (see Run's results for a
// signature). Where an output is computed by a node, the node writes into the
// caller's buffer directly; an output that is a graph input or a constant is
// copied. Like Run, it makes no heap allocations in steady state.
func (s *Session) RunInto(ctx context.Context, inputs, outputs []*tensor.Tensor) error {
	m := s.m
	if len(outputs) != len(m.outputs) {
		return fmt.Errorf("%w: got %d output tensors, want %d (%v)", ErrInput, len(outputs), len(m.outputs), m.OutputNames())
	}
	b, err := s.bindChecked(inputs)
	if err != nil {
		return err
	}
	for i, id := range m.outputs {
		o := outputs[i]
		if o == nil || o.DType != b.p.dtypes[id] || !o.Shape.Equal(b.p.shapes[id]) || o.DType == tensor.String {
			return fmt.Errorf("%w: output %q must be a %v%v tensor (strings are not supported here)", ErrInput, m.values[id].name, b.p.dtypes[id], b.p.shapes[id])
		}
		if err := o.Check(); err != nil {
			return fmt.Errorf("%w: output %q: %v", ErrInput, m.values[id].name, err)
		}
	}
	// Point the computed outputs' views at the caller's buffers for this
	// run. No other value uses those arena bytes after the output is
	// written (outputs live to the end), so nothing else is disturbed.
	for i, id := range m.outputs {
		if b.p.offset[id] >= 0 {
			b.vals[id].Raw = outputs[i].Raw
		}
	}
	_, err = s.run(ctx, b, inputs)
	for i, id := range m.outputs {
		if off := b.p.offset[id]; off >= 0 {
			n := len(outputs[i].Raw)
			b.vals[id].Raw = b.arena[off : off+n : off+n]
		} else if err == nil {
			copy(outputs[i].Raw, b.vals[id].Raw)
		}
	}
	return err
}
