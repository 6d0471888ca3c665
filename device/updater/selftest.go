package updater

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

// selfTest loads installed target t (mmap + compile) and runs its golden
// inputs, comparing with its golden outputs.
func (u *Updater) selfTest(ctx context.Context, t Target) error {
	u.progress(Progress{Model: t.Name, Version: t.Version, Phase: SelfTesting})
	u.point("load")
	b, err := bundle.Open(u.store.Path(t.Name, t.Version))
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer b.Close()
	if b.Manifest.Name != t.Name || b.Manifest.Version != t.Version {
		return fmt.Errorf("bundle says it is %s %s", b.Manifest.Name, b.Manifest.Version)
	}
	m, err := engine.Compile(b.Graph, engine.Options{MaxArenaBytes: u.cfg.ArenaBytes})
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	u.point("selftest")
	return RunGolden(ctx, b, m)
}

// RunGolden runs the bundle's golden inputs through m and compares every
// golden output within the manifest's tolerance (|got − want| ≤ abs + rel ×
// |want|, NaN matching NaN). A bundle without golden data passes.
func RunGolden(ctx context.Context, b *bundle.Bundle, m *engine.Model) error {
	g := b.Manifest.Golden
	if g == nil {
		return nil
	}
	ins := make(map[string]*tensor.Tensor, len(g.Inputs))
	for _, r := range g.Inputs {
		t, ok := b.Tensor(r.Tensor, "")
		if !ok {
			return fmt.Errorf("golden input %q: tensor %q missing", r.Name, r.Tensor)
		}
		ins[r.Name] = t
	}
	outs, err := m.NewSession().RunNamed(ctx, ins)
	if err != nil {
		return fmt.Errorf("golden run: %w", err)
	}
	var errs []error
	for _, r := range g.Outputs {
		want, ok := b.Tensor(r.Tensor, "")
		if !ok {
			return fmt.Errorf("golden output %q: tensor %q missing", r.Name, r.Tensor)
		}
		got, ok := outs[r.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("output %q not produced", r.Name))
			continue
		}
		if err := compare(got, want, g.Tolerance); err != nil {
			errs = append(errs, fmt.Errorf("output %q: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

func compare(got, want *tensor.Tensor, tol bundle.Tolerance) error {
	if !got.Shape.Equal(want.Shape) {
		return fmt.Errorf("shape %v, golden %v", got.Shape, want.Shape)
	}
	if want.DType == tensor.String || got.DType == tensor.String {
		if got.DType != want.DType {
			return fmt.Errorf("dtype %v, golden %v", got.DType, want.DType)
		}
		for i := range want.Strs {
			if got.Strs[i] != want.Strs[i] {
				return fmt.Errorf("element %d is %q, golden %q", i, got.Strs[i], want.Strs[i])
			}
		}
		return nil
	}
	for i := range want.Len() {
		g, w := got.Float64At(i), want.Float64At(i)
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if !(math.Abs(g-w) <= tol.Abs+tol.Rel*math.Abs(w)) {
			return fmt.Errorf("element %d is %g, golden %g (tolerance abs %g rel %g)", i, g, w, tol.Abs, tol.Rel)
		}
	}
	return nil
}
