package peer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// UnsupportedError reports a model Sextant cannot run yet: the operators it
// lacks, when that is the reason, or else the load error.
type UnsupportedError struct {
	Ops []string // "Op" or "domain.Op", sorted; empty when Err says more
	Err error
}

func (e *UnsupportedError) Error() string {
	if len(e.Ops) > 0 {
		return "unsupported by Sextant: " + strings.Join(e.Ops, ", ")
	}
	return "unsupported by Sextant: " + e.Err.Error()
}

func (e *UnsupportedError) Unwrap() error { return e.Err }

// Sextant is one Sextant session on a model, with default engine options
// but for the thread count.
type Sextant struct {
	Model   *engine.Model
	Session *engine.Session
	ctx     context.Context
}

// NewSextant decodes and compiles an ONNX model for threads threads
// (engine.Options.Threads). A model with operators Sextant lacks, or that
// fails to compile, gives an *UnsupportedError.
func NewSextant(model []byte, threads int) (*Sextant, error) {
	g, err := onnx.Decode(model)
	if err != nil {
		if ops := unsupportedOps(err); len(ops) > 0 {
			return nil, &UnsupportedError{Ops: ops, Err: err}
		}
		return nil, fmt.Errorf("peer: sextant: %w", err)
	}
	m, err := engine.Compile(g, engine.Options{Threads: threads})
	if err != nil {
		return nil, &UnsupportedError{Ops: unsupportedOps(err), Err: err}
	}
	return &Sextant{Model: m, Session: m.NewSession(), ctx: context.Background()}, nil
}

// Run runs the model once on inputs (in the graph's input order). The
// outputs belong to the session until the next Run.
func (s *Sextant) Run(inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return s.Session.Run(s.ctx, inputs)
}

// unsupportedOps walks err's tree (errors.Join included) for unsupported
// operator errors.
func unsupportedOps(err error) []string {
	seen := map[string]bool{}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var u *graph.UnsupportedOpError
		if errors.As(e, &u) {
			op := u.Op
			if u.Domain != "" {
				op = u.Domain + "." + u.Op
			}
			seen[op] = true
		}
		switch w := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range w.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(w.Unwrap())
		}
	}
	walk(err)
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}
