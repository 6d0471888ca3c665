package router

import (
	"context"
	"fmt"
	"sync"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

// EngineLocal runs a compiled model on device with a pool of sessions (a
// Session is not safe for concurrent use). It is a Local.
type EngineLocal struct {
	m    *engine.Model
	pool sync.Pool
}

// NewEngineLocal returns a Local over m.
func NewEngineLocal(m *engine.Model) *EngineLocal { return &EngineLocal{m: m} }

// ArenaBytes is the model's static engine arena (its activation memory).
func (l *EngineLocal) ArenaBytes() int64 { return l.m.ArenaBytes() }

// Run implements Local. The outputs are copies the caller owns.
func (l *EngineLocal) Run(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	s, _ := l.pool.Get().(*engine.Session)
	if s == nil {
		s = l.m.NewSession()
	}
	defer l.pool.Put(s)
	outs, err := s.RunNamed(ctx, inputs)
	if err != nil {
		return nil, err
	}
	for k, t := range outs {
		outs[k] = t.Clone()
	}
	return outs, nil
}

// Installed is a model loaded from the device's store: the routing Model
// (manifest, Local, weight bytes) and the bundle, which the caller closes
// after the Router no longer uses the Model.
type Installed struct {
	Model  Model
	Bundle *bundle.Bundle
}

// Load opens model's current version from st (its last known good when the
// current one does not open: offline, the last good model answers),
// compiles it with opts and returns it with policy p.
func Load(st *store.Store, model string, p Policy, opts engine.Options) (*Installed, error) {
	b, v, err := st.Load(model)
	if err != nil {
		return nil, fmt.Errorf("router: load %s: %w", model, err)
	}
	man := b.Manifest
	var weights int64
	for _, init := range b.Graph.Initializers {
		if init.Const != nil {
			weights += int64(len(init.Const.Raw))
		}
	}
	m, err := engine.Compile(b.Graph, opts)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("router: compile %s@%s: %w", model, v.Version, err)
	}
	mod := Model{Manifest: man, Local: NewEngineLocal(m), Policy: p, WeightBytes: weights}
	for _, o := range man.Signature.Outputs {
		if o.Name == ConfidenceOutput {
			mod.Measure, mod.ConfidenceOutput = Score, ConfidenceOutput
		}
	}
	return &Installed{Bundle: b, Model: mod}, nil
}

// ConfidenceOutput is the output name by which a model says it computes
// its own cascade confidence, in [0, 1] (a regressor's deferral head, say):
// Load reads it with the Score measure. Other models' confidence is the
// max probability of their first output's softmax.
const ConfidenceOutput = "confidence"
