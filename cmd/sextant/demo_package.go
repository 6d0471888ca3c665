package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

// release is how a trained bundle is made shippable: its name and version,
// its parent, each input's privacy class, the server variant it pairs
// with, and golden inputs for the self-test devices run after install.
type release struct {
	name, version, parent string
	// privacy maps inputs to a class; inputs not named stay private.
	privacy map[string]bundle.PrivacyClass
	server  *bundle.ServerVariant
	// data supplies golden inputs: its first row, by input name.
	data string
	// rounds and cost, when set, replace the provenance's federated
	// rounds and privacy cost (a federated version).
	rounds []string
	cost   *bundle.PrivacyCost
	// mutate, when set, may replace the graph's initializers (with new
	// tensors: the bundle's own are read-only) before the golden outputs
	// are computed, returning the names it replaced (the demo's
	// deliberately bad version).
	mutate func(*bundle.Bundle) (map[string]bool, error)
}

// packageBundle writes src as dst with r applied and golden outputs
// computed by the engine, so that a device's post-install self-test
// checks that its runtime reproduces them.
func packageBundle(ctx context.Context, src, dst string, r release) error {
	b, err := bundle.Open(src)
	if err != nil {
		return err
	}
	defer b.Close()
	var changed map[string]bool
	if r.mutate != nil {
		if changed, err = r.mutate(b); err != nil {
			return err
		}
	}
	m := *b.Manifest
	m.Name, m.Version, m.ParentVersion = r.name, r.version, r.parent
	m.Signature.Inputs = append([]bundle.Input(nil), m.Signature.Inputs...)
	for i := range m.Signature.Inputs {
		in := &m.Signature.Inputs[i]
		in.Privacy = bundle.Private
		if c, ok := r.privacy[in.Name]; ok {
			in.Privacy = c
		}
	}
	m.ServerVariant = r.server
	if r.rounds != nil {
		m.Provenance.FederatedRounds = r.rounds
	}
	if r.cost != nil {
		c := *r.cost
		m.Provenance.Privacy = &c
	}
	d, err := dataset.Read(r.data)
	if err != nil {
		return err
	}
	model, err := engine.Compile(cloneGraph(b.Graph), engine.Options{})
	if err != nil {
		return fmt.Errorf("compile %s: %w", src, err)
	}
	feeds := map[string]*tensor.Tensor{}
	m.Golden = &bundle.Golden{Tolerance: bundle.Tolerance{Abs: 1e-4, Rel: 1e-3}}
	var extras []bundle.Extra
	for _, in := range m.Signature.Inputs {
		col, ok := d.Column(in.Name)
		if !ok {
			return fmt.Errorf("golden data %s has no column %q", r.data, in.Name)
		}
		t := dataset.Rows(col, 0, 1)
		for _, v := range b.Graph.Inputs {
			if v.Name == in.Name && t.DType != v.Type.DType {
				if t, err = dataset.Convert(t, v.Type.DType); err != nil {
					return err
				}
			}
		}
		feeds[in.Name] = t
		ref := "golden/in/" + in.Name
		m.Golden.Inputs = append(m.Golden.Inputs, bundle.TensorRef{Name: in.Name, Tensor: ref})
		extras = append(extras, bundle.Extra{Name: ref, Tensor: t})
	}
	outs, err := model.NewSession().RunNamed(ctx, feeds)
	if err != nil {
		return fmt.Errorf("golden run of %s: %w", src, err)
	}
	for _, name := range model.OutputNames() {
		ref := "golden/out/" + name
		m.Golden.Outputs = append(m.Golden.Outputs, bundle.TensorRef{Name: name, Tensor: ref})
		extras = append(extras, bundle.Extra{Name: ref, Tensor: outs[name].Clone()})
	}
	for _, x := range b.Extras() {
		if len(x.Name) > 7 && x.Name[:7] == "golden/" || changed[x.Name] {
			// Old golden data, and packed copies of replaced weights.
			continue
		}
		extras = append(extras, x)
	}
	return bundle.WriteFile(dst, b.Graph, &m, extras...)
}

// corruptQuantization is the demo's bad v3: a quantization bug that
// rounds every float weight matrix to its int8 grid but unpacks it wrong:
// the bytes read back as unsigned (a negative weight q·scale becomes
// (q + 256)·scale) and every second one negated (a pair's sign extension
// botched). Measured on six federated v2s (default runs of three seeds,
// two --fast runs), it leaves held-out Acc@1 at 1–2 %, though one later
// --fast v2 lost only about 10 points on device (badRollout then widens
// the bug: corruptQuantizationAll);
// simpler variants did not (every weight shifted by the same half range
// cost one federated v2 only 1.5 points: a uniform shift moves a layer's
// outputs alike). The bundle is well formed, installs and passes its self-test (its
// golden outputs come from the broken weights, as they would from a buggy
// converter); only the quality gates can catch it.
func corruptQuantization(b *bundle.Bundle) (map[string]bool, error) {
	return corruptWeights(b, 64, false)
}

// corruptQuantizationAll is corruptQuantization's bug on every float
// tensor of two or more elements (biases and the scoring head too), each
// also read back to front (a layout bug): the demo's fallback when the
// narrower bug happens to leave a ranker that still orders candidates
// well enough for the fleet's gates to miss.
func corruptQuantizationAll(b *bundle.Bundle) (map[string]bool, error) {
	return corruptWeights(b, 2, true)
}

// corruptWeights applies the unpacking bug to every float32 initializer
// of at least minLen elements, reversed when reverse is set.
func corruptWeights(b *bundle.Bundle, minLen int, reverse bool) (map[string]bool, error) {
	changed := map[string]bool{}
	for _, v := range b.Graph.Initializers {
		if v.Const == nil || v.Const.DType != tensor.Float32 || v.Const.Len() < minLen {
			continue
		}
		c := v.Const.Clone()
		w := tensor.Data[float32](c)
		if reverse {
			slices.Reverse(w)
		}
		maxAbs := float32(0)
		for _, x := range w {
			maxAbs = max(maxAbs, x, -x)
		}
		scale := maxAbs / 127
		if scale == 0 {
			continue
		}
		for i, x := range w {
			q := int8(math.Round(float64(x / scale)))
			w[i] = float32(uint8(q)) * scale
			if i%2 == 1 {
				// Pairs unpacked with the wrong sign extension.
				w[i] = -w[i]
			}
		}
		v.Const, v.Layouts = c, nil
		changed[v.Name] = true
	}
	return changed, nil
}

// privacyOf reads a bundle's recorded privacy cost.
func privacyOf(path string) (bundle.PrivacyCost, error) {
	b, err := bundle.Open(path)
	if err != nil {
		return bundle.PrivacyCost{}, err
	}
	defer b.Close()
	if b.Manifest.Provenance.Privacy == nil {
		return bundle.PrivacyCost{}, fmt.Errorf("%s records no privacy cost", path)
	}
	return *b.Manifest.Provenance.Privacy, nil
}

// fileBytes is a file's size, 0 when it cannot be read.
func fileBytes(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
