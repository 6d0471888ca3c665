package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// port is a model input or output as the ABI reports it.
type port struct {
	name  string
	dtype tensor.DType
	// shape is the declared shape, -1 for a symbolic or unknown dim; nil
	// when the rank is unknown.
	shape []int64
}

// model is the Go state behind a sextant_model handle: the open bundle, its
// compiled graph and one session with the input tensors it reuses.
type model struct {
	name, version string
	inputs        []port
	outputs       []port

	mu   sync.Mutex // guards everything below
	b    *bundle.Bundle
	sess *engine.Session
	ins  []*tensor.Tensor // session-owned copies of the inputs, reused

	// data and shapes hold one call's views of the caller's inputs.
	data   [][]float32
	shapes [][]int64
}

// openModel opens and compiles the bundle at path.
func openModel(path string) (*model, error) {
	b, err := bundle.Open(path)
	if err != nil {
		return nil, &apiError{code: statusOpen, err: err}
	}
	m := &model{b: b, inputs: ports(b.Graph.Inputs), outputs: ports(b.Graph.Outputs)}
	if b.Manifest != nil {
		m.name, m.version = b.Manifest.Name, b.Manifest.Version
	}
	em, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		b.Close()
		return nil, &apiError{code: statusCompile, err: err}
	}
	m.sess = em.NewSession()
	m.ins = make([]*tensor.Tensor, len(m.inputs))
	return m, nil
}

// ports describes vs (captured before Compile, which rewrites the graph).
func ports(vs []*graph.Value) []port {
	ps := make([]port, len(vs))
	for i, v := range vs {
		ps[i] = port{name: v.Name, dtype: v.Type.DType}
		if v.Type.Known {
			ps[i].shape = make([]int64, len(v.Type.Shape))
			for j, d := range v.Type.Shape {
				ps[i].shape[j] = -1
				if d.IsFixed() {
					ps[i].shape[j] = d.Size
				}
			}
		}
	}
	return ps
}

// close releases the session and unmaps the bundle, waiting for a running
// prediction.
func (m *model) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sess, m.ins = nil, nil
	return m.b.Close()
}

// maxElems bounds one input's element count (4 GiB of float32), so that a
// garbage shape fails instead of allocating.
const maxElems = 1 << 30

// elems returns the element count of shape, checking each dim is positive.
func elems(shape []int64) (int, error) {
	n := 1
	for _, d := range shape {
		if d <= 0 || d > maxElems || int64(n)*d > maxElems {
			return 0, fmt.Errorf("shape %v: every dim must be positive and the product at most %d", shape, maxElems)
		}
		n *= int(d)
	}
	return n, nil
}

// run copies data (one []float32 per input, shaped by shapes) into the
// session's input tensors and runs the model. The caller holds m.mu; the
// returned tensors belong to the session and stay valid until the next run.
// With the shapes of the previous call it makes no heap allocations.
func (m *model) run(data [][]float32, shapes [][]int64) ([]*tensor.Tensor, error) {
	if m.sess == nil {
		return nil, fail(statusArgument, "sextant: model is closed")
	}
	if len(data) != len(m.inputs) || len(shapes) != len(m.inputs) {
		return nil, fail(statusInput, "sextant: got %d inputs, the model has %d", len(data), len(m.inputs))
	}
	for i, p := range m.inputs {
		if p.dtype != tensor.Float32 {
			return nil, fail(statusDType, "sextant: input %q is %v, only float32 is supported", p.name, p.dtype)
		}
		n, err := elems(shapes[i])
		if err != nil {
			return nil, fail(statusInput, "sextant: input %q: %v", p.name, err)
		}
		if len(data[i]) != n {
			return nil, fail(statusInput, "sextant: input %q: %d values for %d elements", p.name, len(data[i]), n)
		}
		t := m.ins[i]
		if t == nil || !sameShape(t.Shape, shapes[i]) {
			s := make([]int, len(shapes[i]))
			for j, d := range shapes[i] {
				s[j] = int(d)
			}
			t = tensor.New(tensor.Float32, s...)
			m.ins[i] = t
		}
		copy(tensor.Data[float32](t), data[i])
	}
	outs, err := m.sess.Run(context.Background(), m.ins)
	if err != nil {
		return nil, err
	}
	for i, o := range outs {
		if o.DType != tensor.Float32 {
			return nil, fail(statusDType, "sextant: output %q is %v, only float32 is supported", m.outputs[i].name, o.DType)
		}
		if len(o.Shape) > maxRank {
			return nil, fail(statusRun, "sextant: output %q has rank %d, more than SEXTANT_MAX_RANK (%d)", m.outputs[i].name, len(o.Shape), maxRank)
		}
	}
	return outs, nil
}

// maxRank is sextant.h's SEXTANT_MAX_RANK.
const maxRank = 8

func sameShape(a tensor.Shape, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if int64(a[i]) != b[i] {
			return false
		}
	}
	return true
}

// scratch returns per-input slices for the views of one call's inputs,
// allocated once. The caller holds m.mu.
func (m *model) scratch() ([][]float32, [][]int64) {
	if m.data == nil {
		m.data = make([][]float32, len(m.inputs))
		m.shapes = make([][]int64, len(m.inputs))
	}
	return m.data, m.shapes
}
