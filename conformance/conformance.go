// Package conformance runs the ONNX backend node tests against Sextant's
// engine and reports, per test and per op, what passed, what failed (with the
// worst error) and what is unsupported.
//
// Each test directory holds model.onnx and test_data_set_N directories of
// input_K.pb and output_K.pb TensorProto files. A test passes when every
// output has the expected dtype and shape and every element is within the
// ONNX backend runner's tolerance: |actual − expected| ≤ atol + rtol·|expected|
// with rtol = 1e-3 and atol = 1e-7 (onnx/backend/test/runner, which calls
// numpy.testing.assert_allclose with those values); NaN matches NaN, integers,
// booleans and strings must be equal.
//
// Debian's libonnx-testdata package installs the suite under DefaultSuite.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// DefaultSuite is where Debian's libonnx-testdata puts the node tests.
const DefaultSuite = "/usr/share/libonnx-testdata/data/node"

// Tolerances of the ONNX backend test runner.
const (
	RTol = 1e-3
	ATol = 1e-7
)

// Status of one test.
const (
	Passed      = "passed"
	Failed      = "failed"
	Unsupported = "unsupported"
)

// Result is the outcome of one node test.
type Result struct {
	Name   string   `json:"name"`
	Ops    []string `json:"ops"`
	Status string   `json:"status"`
	Detail string   `json:"detail,omitempty"`
}

// OpSummary counts results for one op over the tests that use it.
type OpSummary struct {
	Op          string `json:"op"`
	Passed      int    `json:"passed"`
	Failed      int    `json:"failed"`
	Unsupported int    `json:"unsupported"`
}

// Report is the outcome of a suite run.
type Report struct {
	Passed      int         `json:"passed"`
	Failed      int         `json:"failed"`
	Unsupported int         `json:"unsupported"`
	Tests       []Result    `json:"tests"`
	Ops         []OpSummary `json:"ops"`
}

// Options select and observe a suite run.
type Options struct {
	// Filter, when set, keeps only tests whose names match.
	Filter *regexp.Regexp
	// Progress, when set, is called after each test.
	Progress func(done, total int, r Result)
}

// RunSuite runs every test directory under dir.
func RunSuite(ctx context.Context, dir string, opts Options) (*Report, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if opts.Filter != nil && !opts.Filter.MatchString(e.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "model.onnx")); err != nil {
			continue
		}
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("conformance: no node tests under %s", dir)
	}
	rep := &Report{}
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := RunTest(ctx, filepath.Join(dir, name))
		rep.add(r)
		if opts.Progress != nil {
			opts.Progress(i+1, len(names), r)
		}
	}
	rep.summarize()
	return rep, nil
}

func (rep *Report) add(r Result) {
	switch r.Status {
	case Passed:
		rep.Passed++
	case Failed:
		rep.Failed++
	default:
		rep.Unsupported++
	}
	rep.Tests = append(rep.Tests, r)
}

func (rep *Report) summarize() {
	by := map[string]*OpSummary{}
	for _, t := range rep.Tests {
		for _, op := range t.Ops {
			s := by[op]
			if s == nil {
				s = &OpSummary{Op: op}
				by[op] = s
			}
			switch t.Status {
			case Passed:
				s.Passed++
			case Failed:
				s.Failed++
			default:
				s.Unsupported++
			}
		}
	}
	rep.Ops = rep.Ops[:0]
	for _, s := range by {
		rep.Ops = append(rep.Ops, *s)
	}
	sort.Slice(rep.Ops, func(i, j int) bool { return rep.Ops[i].Op < rep.Ops[j].Op })
}

// RunTest runs one test directory. It never panics: a panic in Sextant's code
// is reported as a failure with its stack's first lines.
func RunTest(ctx context.Context, dir string) (res Result) {
	res.Name = filepath.Base(dir)
	defer func() {
		if p := recover(); p != nil {
			res.Status = Failed
			res.Detail = fmt.Sprintf("panic: %v\n%s", p, firstLines(string(debug.Stack()), 12))
		}
	}()
	data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return fail(res, err)
	}
	g, err := onnx.DecodeUnchecked(data)
	if err != nil {
		res.Status = Unsupported
		res.Detail = err.Error()
		return res
	}
	res.Ops = opsOf(g)
	if err := onnx.CheckOps(g); err != nil {
		res.Status = Unsupported
		res.Detail = err.Error()
		return res
	}
	m, err := engine.Compile(g, engine.Options{})
	if err != nil {
		var ue *graph.UnsupportedOpError
		if errors.As(err, &ue) {
			res.Status = Unsupported
			res.Detail = err.Error()
			return res
		}
		return fail(res, fmt.Errorf("compile: %w", err))
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	sort.Strings(sets)
	if len(sets) == 0 {
		return fail(res, errors.New("no test_data_set directories"))
	}
	s := m.NewSession()
	for _, set := range sets {
		ins, err := readTensors(set, "input")
		if err != nil {
			return fail(res, err)
		}
		want, err := readTensors(set, "output")
		if err != nil {
			return fail(res, err)
		}
		retag(ins, g.Inputs)
		retag(want, g.Outputs)
		got, err := s.Run(ctx, ins)
		if err != nil {
			return fail(res, fmt.Errorf("%s: run: %w", filepath.Base(set), err))
		}
		if len(got) != len(want) {
			return fail(res, fmt.Errorf("%s: %d outputs, want %d", filepath.Base(set), len(got), len(want)))
		}
		for i := range want {
			if err := Compare(got[i], want[i]); err != nil {
				return fail(res, fmt.Errorf("%s: output %d (%s): %w", filepath.Base(set), i, m.OutputNames()[i], err))
			}
		}
	}
	res.Status = Passed
	return res
}

// retag fixes a quirk of the ONNX 1.12 test data: bfloat16 tensors are
// stored as UINT16 TensorProtos holding the bit patterns. Where the model
// declares bfloat16 and the file says uint16, the bits are the value, so the
// tensor is relabelled; nothing else is converted.
func retag(ts []*tensor.Tensor, vs []*graph.Value) {
	for i, t := range ts {
		if i < len(vs) && t.DType == tensor.Uint16 && vs[i].Type.DType == tensor.BFloat16 {
			t.DType = tensor.BFloat16
		}
	}
}

func fail(r Result, err error) Result {
	r.Status = Failed
	r.Detail = err.Error()
	return r
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func opsOf(g *graph.Graph) []string {
	seen := map[string]bool{}
	var ops []string
	for _, n := range g.Nodes {
		if !seen[n.Op] {
			seen[n.Op] = true
			ops = append(ops, n.Op)
		}
	}
	sort.Strings(ops)
	return ops
}

// readTensors reads prefix_0.pb, prefix_1.pb, ... from dir.
func readTensors(dir, prefix string) ([]*tensor.Tensor, error) {
	var out []*tensor.Tensor
	for i := 0; ; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%s_%d.pb", prefix, i))
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		_, t, err := onnx.DecodeTensor(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, t)
	}
}

// Compare checks got against want with the backend runner's tolerances and
// describes the worst mismatch.
func Compare(got, want *tensor.Tensor) error {
	if got == nil {
		return errors.New("output not computed")
	}
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !got.Shape.Equal(want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if want.DType == tensor.String {
		for i := range want.Strs {
			if got.Strs[i] != want.Strs[i] {
				return fmt.Errorf("element %d is %q, want %q", i, got.Strs[i], want.Strs[i])
			}
		}
		return nil
	}
	worst, worstIdx, bad := 0.0, -1, 0
	for i := 0; i < want.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		if want.DType.IsFloat() {
			if math.IsNaN(w) || math.IsNaN(g) {
				if math.IsNaN(w) != math.IsNaN(g) {
					bad++
					if worstIdx < 0 || !math.IsInf(worst, 1) {
						worst, worstIdx = math.Inf(1), i
					}
				}
				continue
			}
			if math.IsInf(w, 0) || math.IsInf(g, 0) {
				if g != w {
					bad++
					worst, worstIdx = math.Inf(1), i
				}
				continue
			}
			d := math.Abs(g - w)
			if d > ATol+RTol*math.Abs(w) {
				bad++
				if d > worst || worstIdx < 0 {
					worst, worstIdx = d, i
				}
			}
			continue
		}
		if !intEqual(got, want, i) {
			bad++
			if d := math.Abs(g - w); d > worst || worstIdx < 0 {
				worst, worstIdx = d, i
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ; worst at %d: got %v, want %v (|diff| %.3g)",
			bad, want.Len(), worstIdx, got.Float64At(worstIdx), want.Float64At(worstIdx), worst)
	}
	return nil
}

// intEqual compares integer and boolean elements exactly (float64 cannot hold
// every int64).
func intEqual(a, b *tensor.Tensor, i int) bool {
	switch b.DType {
	case tensor.Int64:
		return tensor.Data[int64](a)[i] == tensor.Data[int64](b)[i]
	case tensor.Uint64:
		return tensor.Data[uint64](a)[i] == tensor.Data[uint64](b)[i]
	}
	return a.Float64At(i) == b.Float64At(i)
}
