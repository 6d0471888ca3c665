package bundle

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// ManifestError is one problem Validate found in a manifest.
type ManifestError struct {
	// Field is the JSON path of the offending field, e.g.
	// "signature.inputs[1].coarsening".
	Field string
	// Reason says what is wrong.
	Reason string
}

func (e *ManifestError) Error() string {
	return fmt.Sprintf("manifest %s: %s", e.Field, e.Reason)
}

// Limits on list lengths, so that validating a hostile manifest stays cheap.
const (
	maxSignatureEntries = 1 << 16
	maxPatterns         = 1 << 12
	maxGlobs            = 32 // patterns with wildcards, each matched against every initializer
)

// validator collects problems. inputs and outputs index the signature.
type validator struct {
	errs    []error
	inputs  map[string]*Input
	outputs map[string]*Output
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &ManifestError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (v *validator) finite(field string, x float64, lo, hi float64, hiOpen bool) {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.add(field, "%v is not finite", x)
	case x < lo || x > hi || (hiOpen && x == hi):
		r := "]"
		if hiOpen {
			r = ")"
		}
		v.add(field, "%v is outside [%v, %v%s", x, lo, hi, r)
	}
}

func (v *validator) semver(field, s string) (Version, bool) {
	ver, err := ParseVersion(s)
	if err != nil {
		v.add(field, "%v", err)
		return ver, false
	}
	return ver, true
}

// Validate checks the manifest on its own and, when g is not nil, against the
// graph: every graph input must be declared in the signature with a privacy
// class, every signature input and output must exist in the graph with the
// same dtype and compatible shape, trainable patterns must match
// initializers, and the graph's ops must be listed in Ops. All problems are
// returned joined; each is a *ManifestError.
func (m *Manifest) Validate(g *graph.Graph) error {
	v := &validator{inputs: map[string]*Input{}, outputs: map[string]*Output{}}
	if n := max(len(m.Signature.Inputs), len(m.Signature.Outputs)); n > maxSignatureEntries {
		v.add("signature", "%d entries exceed the limit of %d", n, maxSignatureEntries)
		return errors.Join(v.errs...)
	}
	for i := range m.Signature.Inputs {
		in := &m.Signature.Inputs[i]
		if _, dup := v.inputs[in.Name]; !dup {
			v.inputs[in.Name] = in
		}
	}
	for i := range m.Signature.Outputs {
		out := &m.Signature.Outputs[i]
		if _, dup := v.outputs[out.Name]; !dup {
			v.outputs[out.Name] = out
		}
	}
	if m.Name == "" {
		v.add("name", "is empty")
	}
	ver, okVer := v.semver("version", m.Version)
	if m.ParentVersion != "" {
		if pv, ok := v.semver("parent_version", m.ParentVersion); ok && okVer && pv.Compare(ver) >= 0 {
			v.add("parent_version", "%s does not precede version %s", m.ParentVersion, m.Version)
		}
	}
	m.validateSignature(v)
	for name, xs := range m.Preprocessing {
		if name == "" {
			v.add("preprocessing", "has an unnamed constant")
		}
		for i, x := range xs {
			v.finite(fmt.Sprintf("preprocessing.%s[%d]", name, i), x, math.Inf(-1), math.Inf(1), false)
		}
	}
	if q := m.Quantization; q != nil {
		validateQuant(v, q)
	}
	if ft := m.FineTuning; ft != nil {
		validateFineTuning(v, ft, g)
	}
	if c := m.Calibration; c != nil {
		v.finite("calibration.temperature", c.Temperature, 0, math.MaxFloat64, false)
		v.finite("calibration.cascade_threshold", c.CascadeThreshold, 0, 1, false)
	}
	m.validateServer(v)
	m.validateGolden(v)
	if p := m.Provenance.Privacy; p != nil {
		v.finite("provenance.privacy.epsilon", p.Epsilon, 0, math.MaxFloat64, false)
		v.finite("provenance.privacy.delta", p.Delta, 0, 1, true)
	}
	if m.MinRuntimeVersion != "" {
		v.semver("min_runtime_version", m.MinRuntimeVersion)
	}
	for i, p := range m.DeviceProfiles {
		if p == "" {
			v.add(fmt.Sprintf("device_profiles[%d]", i), "is empty")
		}
	}
	if g != nil {
		m.validateAgainst(v, g)
	}
	return errors.Join(v.errs...)
}

func (m *Manifest) validateSignature(v *validator) {
	seen := map[string]bool{}
	for i, in := range m.Signature.Inputs {
		f := fmt.Sprintf("signature.inputs[%d]", i)
		checkSpec(v, f, in.Name, in.DType, seen)
		switch in.Privacy {
		case Private, Public:
			if in.Coarsening != nil {
				v.add(f+".coarsening", "input %q is %s; only sensitive inputs are coarsened", in.Name, in.Privacy)
			}
		case Sensitive:
			if in.Coarsening == nil {
				v.add(f+".coarsening", "sensitive input %q needs a coarsening", in.Name)
			} else {
				validateCoarsening(v, f+".coarsening", in.Coarsening)
				if in.Coarsening.Kind == CoarsenS2 {
					validatePlace(v, f, &in)
				}
			}
		case "":
			v.add(f+".privacy", "input %q has no privacy class (want private, sensitive or public)", in.Name)
		default:
			v.add(f+".privacy", "unknown privacy class %q (want private, sensitive or public)", in.Privacy)
		}
	}
	seen = map[string]bool{}
	for i, out := range m.Signature.Outputs {
		checkSpec(v, fmt.Sprintf("signature.outputs[%d]", i), out.Name, out.DType, seen)
	}
}

func checkSpec(v *validator, f, name, dtype string, seen map[string]bool) {
	if name == "" {
		v.add(f+".name", "is empty")
	} else if seen[name] {
		v.add(f+".name", "%q is declared twice", name)
	}
	seen[name] = true
	if _, err := tensor.ParseDType(dtype); err != nil {
		v.add(f+".dtype", "%v", err)
	}
}

func validateCoarsening(v *validator, f string, c *Coarsening) {
	switch c.Kind {
	case CoarsenH3:
		if c.Resolution < 0 || c.Resolution > 15 {
			v.add(f+".resolution", "H3 resolution %d is outside 0 to 15", c.Resolution)
		}
	case CoarsenS2:
		if l := c.S2Level(); l < 0 || l > MaxS2Level {
			v.add(f+".level", "S2 level %d is outside 0 to %d", l, MaxS2Level)
		}
	case CoarsenTimeSlot:
		if c.Minutes < 1 || c.Minutes > 24*60 {
			v.add(f+".minutes", "time slot of %d minutes is outside 1 to 1440", c.Minutes)
		}
	case CoarsenBucket:
		if len(c.Edges) == 0 {
			v.add(f+".edges", "bucket coarsening needs edges")
		}
		for i, e := range c.Edges {
			v.finite(fmt.Sprintf("%s.edges[%d]", f, i), e, math.Inf(-1), math.Inf(1), false)
			if i > 0 && !(e > c.Edges[i-1]) {
				v.add(f+".edges", "edges are not strictly increasing at %d", i)
			}
		}
	case "":
		v.add(f+".kind", "is empty")
	}
}

// validatePlace checks that an input coarsened to S2 cells can hold
// places: float32 or float64 with (latitude, longitude) on a last axis of
// size 2 (an unknown rank or a symbolic last axis is checked by the router
// when the tensor arrives).
func validatePlace(v *validator, f string, in *Input) {
	if in.DType != "float32" && in.DType != "float64" {
		v.add(f+".dtype", "input %q is coarsened to S2 cells, so it holds degrees: want float32 or float64, not %s", in.Name, in.DType)
	}
	if len(in.Shape) == 0 {
		return // rank unknown here: the router checks the tensor
	}
	if d := in.Shape[len(in.Shape)-1]; d.IsFixed() && d.Size != 2 {
		v.add(f+".shape", "input %q is coarsened to S2 cells: its last axis holds (latitude, longitude), size 2, not %d", in.Name, d.Size)
	}
}

func validateQuant(v *validator, q *Quantization) {
	if q.Mode == "" {
		v.add("quantization.mode", "is empty")
	}
	for _, name := range sortedKeys(q.Tensors) {
		p := q.Tensors[name]
		f := fmt.Sprintf("quantization.tensors[%q]", name)
		if len(p.Scale) == 0 {
			v.add(f+".scale", "is empty")
		}
		for i, s := range p.Scale {
			if !(s > 0) || math.IsInf(s, 0) {
				v.add(fmt.Sprintf("%s.scale[%d]", f, i), "%v is not a positive finite scale", s)
			}
		}
		if len(p.ZeroPoint) != 0 && len(p.ZeroPoint) != len(p.Scale) {
			v.add(f+".zero_point", "has %d entries for %d scales", len(p.ZeroPoint), len(p.Scale))
		}
		if p.Axis == nil && len(p.Scale) > 1 {
			v.add(f+".axis", "per-tensor parameters have %d scales; per-channel ones need an axis", len(p.Scale))
		}
		if p.DType != "" {
			if dt, err := tensor.ParseDType(p.DType); err != nil || !dt.IsInt() && !dt.IsFloat() {
				v.add(f+".dtype", "%q is not a numeric dtype", p.DType)
			}
		}
	}
}

func validateFineTuning(v *validator, ft *FineTuning, g *graph.Graph) {
	if len(ft.Trainable) == 0 {
		v.add("fine_tuning.trainable", "is empty")
	}
	if len(ft.Trainable) > maxPatterns {
		v.add("fine_tuning.trainable", "%d patterns exceed the limit of %d", len(ft.Trainable), maxPatterns)
		return
	}
	var names map[string]bool
	globs := 0
	for i, pat := range ft.Trainable {
		f := fmt.Sprintf("fine_tuning.trainable[%d]", i)
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			v.add(f, "%q is not a valid name or pattern", pat)
			continue
		}
		if g == nil {
			continue
		}
		if !strings.ContainsAny(pat, `*?[\`) {
			if names == nil {
				names = make(map[string]bool, len(g.Initializers))
				for _, x := range g.Initializers {
					names[x.Name] = true
				}
			}
			if !names[pat] {
				v.add(f, "%q is not an initializer of the graph", pat)
			}
			continue
		}
		if globs++; globs > maxGlobs {
			v.add(f, "more than %d patterns", maxGlobs)
			return
		}
		if !slices.ContainsFunc(g.Initializers, func(x *graph.Value) bool {
			ok, _ := path.Match(pat, x.Name)
			return ok
		}) {
			v.add(f, "%q matches no initializer of the graph", pat)
		}
	}
	o := ft.Optimizer
	if o.Name == "" {
		v.add("fine_tuning.optimizer.name", "is empty")
	}
	if !(o.LearningRate > 0) || math.IsInf(o.LearningRate, 0) {
		v.add("fine_tuning.optimizer.lr", "%v is not a positive finite learning rate", o.LearningRate)
	}
	v.finite("fine_tuning.optimizer.momentum", o.Momentum, 0, 1, true)
	v.finite("fine_tuning.optimizer.betas[0]", o.Betas[0], 0, 1, true)
	v.finite("fine_tuning.optimizer.betas[1]", o.Betas[1], 0, 1, true)
	v.finite("fine_tuning.optimizer.epsilon", o.Epsilon, 0, math.MaxFloat64, false)
	v.finite("fine_tuning.optimizer.weight_decay", o.WeightDecay, 0, math.MaxFloat64, false)
}

func (m *Manifest) validateServer(v *validator) {
	s := m.ServerVariant
	if s == nil {
		return
	}
	if s.Model == "" {
		v.add("server_variant.model", "is empty")
	}
	if s.Version != "" {
		v.semver("server_variant.version", s.Version)
	}
	for i, name := range s.Inputs {
		f := fmt.Sprintf("server_variant.inputs[%d]", i)
		in := v.inputs[name]
		switch {
		case in == nil:
			v.add(f, "%q is not a signature input", name)
		case in.Privacy == Private:
			v.add(f, "input %q is private and may never be sent to the server", name)
		}
	}
}

func (m *Manifest) validateGolden(v *validator) {
	gd := m.Golden
	if gd == nil {
		return
	}
	have := map[string]bool{}
	for i, r := range gd.Inputs {
		f := fmt.Sprintf("golden.inputs[%d]", i)
		if v.inputs[r.Name] == nil {
			v.add(f+".name", "%q is not a signature input", r.Name)
		}
		if r.Tensor == "" {
			v.add(f+".tensor", "is empty")
		}
		have[r.Name] = true
	}
	for _, in := range m.Signature.Inputs {
		if !have[in.Name] {
			v.add("golden.inputs", "no golden value for input %q", in.Name)
		}
	}
	if len(gd.Outputs) == 0 {
		v.add("golden.outputs", "is empty")
	}
	for i, r := range gd.Outputs {
		f := fmt.Sprintf("golden.outputs[%d]", i)
		if v.outputs[r.Name] == nil {
			v.add(f+".name", "%q is not a signature output", r.Name)
		}
		if r.Tensor == "" {
			v.add(f+".tensor", "is empty")
		}
	}
	v.finite("golden.tolerance.abs", gd.Tolerance.Abs, 0, math.MaxFloat64, false)
	v.finite("golden.tolerance.rel", gd.Tolerance.Rel, 0, math.MaxFloat64, false)
}

func (m *Manifest) validateAgainst(v *validator, g *graph.Graph) {
	for _, gv := range g.Inputs {
		if v.inputs[gv.Name] == nil {
			v.add("signature.inputs", "graph input %q is not declared (every input needs a privacy class)", gv.Name)
		}
	}
	index := func(vs []*graph.Value) map[string]*graph.Value {
		m := make(map[string]*graph.Value, len(vs))
		for _, x := range vs {
			m[x.Name] = x
		}
		return m
	}
	gin, gout := index(g.Inputs), index(g.Outputs)
	check := func(f, name, dtype string, shape Shape, vs map[string]*graph.Value, what string) {
		gv := vs[name]
		if gv == nil {
			v.add(f, "%q is not a graph %s", name, what)
			return
		}
		if dt, err := tensor.ParseDType(dtype); err == nil && gv.Type.DType != tensor.Undefined && dt != gv.Type.DType {
			v.add(f+".dtype", "%s, but the graph's %s %q is %v", dtype, what, name, gv.Type.DType)
		}
		if gv.Type.Known && shape != nil && !compatible(shape, gv.Type.Shape) {
			v.add(f+".shape", "%v is incompatible with the graph's %v", []graph.Dim(shape), gv.Type)
		}
	}
	for i, in := range m.Signature.Inputs {
		check(fmt.Sprintf("signature.inputs[%d]", i), in.Name, in.DType, in.Shape, gin, "input")
	}
	for i, out := range m.Signature.Outputs {
		check(fmt.Sprintf("signature.outputs[%d]", i), out.Name, out.DType, out.Shape, gout, "output")
	}
	listed := make(map[string]bool, len(m.Ops))
	for _, op := range m.Ops {
		listed[op] = true
	}
	for _, op := range OpsUsed(g) {
		if !listed[op] {
			v.add("ops", "the graph uses %s, which is not listed", op)
		}
	}
}

// compatible reports whether two shapes have the same rank and no pair of
// fixed dimensions that differ.
func compatible(a Shape, b []graph.Dim) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IsFixed() && b[i].IsFixed() && a[i].Size != b[i].Size {
			return false
		}
	}
	return true
}

// OpName names a node's operator as manifests list it: the op type for the
// default ONNX domain, "domain:op" for any other.
func OpName(n *graph.Node) string {
	if n.Domain == "" || n.Domain == "ai.onnx" {
		return n.Op
	}
	return n.Domain + ":" + n.Op
}

// OpsUsed returns the sorted, distinct OpNames of g's nodes.
func OpsUsed(g *graph.Graph) []string {
	var ops []string
	for _, n := range g.Nodes {
		ops = append(ops, OpName(n))
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

// SignatureOf derives a signature from g's inputs and outputs, with every
// input private (the safe default); set each input's class before writing.
func SignatureOf(g *graph.Graph) Signature {
	var s Signature
	for _, v := range g.Inputs {
		s.Inputs = append(s.Inputs, Input{Name: v.Name, DType: v.Type.DType.String(), Shape: ShapeOf(v.Type), Privacy: Private})
	}
	for _, v := range g.Outputs {
		s.Outputs = append(s.Outputs, Output{Name: v.Name, DType: v.Type.DType.String(), Shape: ShapeOf(v.Type)})
	}
	return s
}
