package conformance

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// designOps is DESIGN.md part 1's non-quantized op set: every node test whose
// ops all lie in it must pass, except the listed exceptions.
var designOps = strings.Fields(`MatMul Gemm Add Sub Mul Div Pow Sqrt Exp Log Neg Abs Max Min
Clip Where Equal Less Greater LessOrEqual GreaterOrEqual Relu LeakyRelu Sigmoid Tanh Gelu Erf
Softmax LogSoftmax HardSigmoid HardSwish Not And Or Gather Concat Split Slice Reshape Flatten
Squeeze Unsqueeze Transpose Expand Shape Cast Identity Constant ReduceMean ReduceSum ReduceMax
LayerNormalization BatchNormalization GRU LSTM Conv MaxPool AveragePool GlobalAveragePool`)

// maxExceptions is the bar's limit on in-set tests allowed to not pass.
const maxExceptions = 15

// exceptions reads the table of docs/conformance.md: rows "| test_x | reason |".
func exceptions(t *testing.T) map[string]string {
	f, err := os.Open("../docs/conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex := map[string]string{}
	row := regexp.MustCompile("^\\|\\s*`?(test_[a-zA-Z0-9_]+)`?\\s*\\|\\s*(.+?)\\s*\\|")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			ex[m[1]] = m[2]
		}
	}
	return ex
}

func suiteDir(t *testing.T) string {
	if _, err := os.Stat(DefaultSuite); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ONNX node tests not found at %s (install Debian's libonnx-testdata)", DefaultSuite)
		}
		t.Skipf("ONNX node tests not found at %s; install them with: apt-get install libonnx-testdata", DefaultSuite)
	}
	return DefaultSuite
}

// TestNodeSuite runs the whole ONNX node-test suite and holds the engine to
// the bar: every test whose ops are all in the design's op set passes, but
// for the exceptions documented in docs/conformance.md. Tests outside the set
// must not crash the runner.
func TestNodeSuite(t *testing.T) {
	dir := suiteDir(t)
	rep, err := RunSuite(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, op := range designOps {
		in[op] = true
	}
	ex := exceptions(t)
	if len(ex) > maxExceptions {
		t.Errorf("docs/conformance.md lists %d exceptions, more than the %d allowed", len(ex), maxExceptions)
	}
	inSet, passed := 0, 0
	for _, r := range rep.Tests {
		if strings.HasPrefix(r.Detail, "panic:") {
			t.Errorf("%s crashed the runner: %s", r.Name, r.Detail)
		}
		all := len(r.Ops) > 0
		for _, op := range r.Ops {
			all = all && in[op]
		}
		if _, listed := ex[r.Name]; listed && len(r.Ops) == 0 {
			all = true // not decodable, so its ops are unknown: the listed reason says why
		}
		if !all {
			continue
		}
		inSet++
		if r.Status == Passed {
			passed++
			if _, ok := ex[r.Name]; ok {
				t.Errorf("%s passes but is listed as an exception in docs/conformance.md; remove it", r.Name)
			}
			continue
		}
		if why, ok := ex[r.Name]; ok {
			t.Logf("%s: %s (exception: %s)", r.Name, r.Status, why)
			continue
		}
		t.Errorf("%s %s: %s", r.Name, r.Status, r.Detail)
	}
	t.Logf("whole suite: %d passed, %d failed, %d unsupported; design op set: %d of %d passed", rep.Passed, rep.Failed, rep.Unsupported, passed, inSet)
	if inSet < 365 {
		t.Errorf("only %d node tests use only design ops; libonnx-testdata 1.12 has 365", inSet)
	}
}

func TestCompareTolerances(t *testing.T) {
	want := tensor.From([]float32{1, 1000, 0, float32(nan())}, 4)
	ok := tensor.From([]float32{1.0009, 1000.9, 0, float32(nan())}, 4)
	if err := Compare(ok, want); err != nil {
		t.Errorf("within tolerance: %v", err)
	}
	bad := tensor.From([]float32{1.0011, 1000, 0, float32(nan())}, 4)
	if err := Compare(bad, want); err == nil {
		t.Error("1.0011 vs 1 passed; rtol is 1e-3")
	}
	nanMiss := tensor.From([]float32{1, 1000, 0, 0}, 4)
	if err := Compare(nanMiss, want); err == nil {
		t.Error("0 vs NaN passed")
	}
	if err := Compare(tensor.From([]int64{1 << 60}, 1), tensor.From([]int64{1<<60 + 1}, 1)); err == nil {
		t.Error("int64 values differing by 1 passed")
	}
	if err := Compare(tensor.From([]float32{1, 2}, 2), tensor.From([]float32{1, 2}, 1, 2)); err == nil {
		t.Error("shape mismatch passed")
	}
}

func nan() float64 { var z float64; return z / z }

// TestRunTestNeverPanics feeds the runner a directory whose model is garbage.
func TestRunTestNeverPanics(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("\x0a\xff\xff\xff\xff\x0fgarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := RunTest(context.Background(), dir)
	if r.Status == Passed {
		t.Fatalf("garbage model passed: %+v", r)
	}
}
