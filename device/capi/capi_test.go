package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// TestStatusMatchesHeader checks that the Go status values are sextant.h's
// enumerators.
func TestStatusMatchesHeader(t *testing.T) {
	h, err := os.ReadFile("sextant.h")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`\b(SEXTANT_(?:OK|ERR_\w+))\s*=\s*(\d+)`).FindAllStringSubmatch(string(h), -1) {
		v, _ := strconv.Atoi(m[2])
		got[m[1]] = v
	}
	if len(got) != len(statusNames) {
		t.Errorf("sextant.h has %d status codes, Go has %d: %v", len(got), len(statusNames), got)
	}
	for code, name := range statusNames {
		if v, ok := got[name]; !ok || v != int(code) {
			t.Errorf("%s: header %d (present %v), Go %d", name, v, ok, code)
		}
		if statusText[code] == "" {
			t.Errorf("%s has no text", name)
		}
	}
	m := regexp.MustCompile(`#define SEXTANT_MAX_RANK (\d+)`).FindStringSubmatch(string(h))
	if m == nil || m[1] != strconv.Itoa(maxRank) {
		t.Errorf("SEXTANT_MAX_RANK: header %v, Go %d", m, maxRank)
	}
	m = regexp.MustCompile(`#define SEXTANT_DTYPE_FLOAT (\d+)`).FindStringSubmatch(string(h))
	if m == nil || m[1] != strconv.Itoa(int(tensor.Float32)) {
		t.Errorf("SEXTANT_DTYPE_FLOAT: header %v, tensor.Float32 %d", m, tensor.Float32)
	}
}

var (
	commentRE = regexp.MustCompile(`(?s)/\*.*?\*/`)
	protoRE   = regexp.MustCompile(`^(.*?)\b(sextant_\w+)\s*\((.*)\)$`)
	identRE   = regexp.MustCompile(`\w+$`)
)

// prototypes returns the sextant_ functions declared in C source decls as
// name → "ret(param types)", with const, parameter names and spaces
// removed: what the Go tool can express (it writes no const).
func prototypes(t *testing.T, decls []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range decls {
		d = strings.Join(strings.Fields(d), " ")
		d = strings.TrimPrefix(d, "extern ")
		m := protoRE.FindStringSubmatch(d)
		if m == nil {
			continue
		}
		norm := func(s string) string {
			s = regexp.MustCompile(`\bconst\b`).ReplaceAllString(s, "")
			return strings.Join(strings.Fields(s), "")
		}
		var params []string
		for _, p := range strings.Split(m[3], ",") {
			p = strings.TrimSpace(regexp.MustCompile(`\bconst\b`).ReplaceAllString(p, ""))
			if p != "void" {
				p = strings.TrimSpace(identRE.ReplaceAllString(p, "")) // the name
			}
			params = append(params, norm(p))
		}
		if _, dup := out[m[2]]; dup {
			t.Errorf("%s declared twice", m[2])
		}
		out[m[2]] = norm(m[1]) + "(" + strings.Join(params, ",") + ")"
	}
	return out
}

// TestHeaderMatchesGenerated builds the c-archive and checks that the
// handwritten sextant.h declares exactly the functions the Go tool exports,
// with the same types up to const.
func TestHeaderMatchesGenerated(t *testing.T) {
	lib := buildLib(t, "c-archive")
	gen, err := os.ReadFile(strings.TrimSuffix(lib, ".a") + ".h")
	if err != nil {
		t.Fatal(err)
	}
	var genDecls []string
	for _, l := range strings.Split(string(gen), "\n") {
		if strings.HasPrefix(l, "extern ") && strings.Contains(l, "sextant_") {
			genDecls = append(genDecls, strings.TrimSuffix(strings.TrimSpace(l), ";"))
		}
	}
	hand, err := os.ReadFile("sextant.h")
	if err != nil {
		t.Fatal(err)
	}
	s := commentRE.ReplaceAllString(string(hand), "")
	i := strings.Index(s, "#ifndef SEXTANT_TYPES_ONLY")
	j := strings.LastIndex(s, "#endif")
	if i < 0 || j < i {
		t.Fatal("sextant.h: no SEXTANT_TYPES_ONLY section")
	}
	body := s[i+len("#ifndef SEXTANT_TYPES_ONLY") : j]
	body = body[:strings.LastIndex(body, "#endif")]
	want, got := prototypes(t, strings.Split(body, ";")), prototypes(t, genDecls)
	if len(got) == 0 || len(want) == 0 {
		t.Fatalf("found %d exported and %d declared functions; is the parsing broken?\n%s", len(got), len(want), gen)
	}
	for name, g := range got {
		if w, ok := want[name]; !ok {
			t.Errorf("%s is exported but not in sextant.h", name)
		} else if w != g {
			t.Errorf("%s: sextant.h %s, generated %s", name, w, g)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("sextant.h declares %s, which is not exported", name)
		}
	}
}

// TestCArchiveSmoke links testdata/smoke.c against the c-archive, runs it on
// the MLP bundle (its own checks cover error codes, truncated messages,
// introspection, a too-small buffer and one handle shared by four threads)
// and compares the printed outputs with PyTorch's within 1e-5.
func TestCArchiveSmoke(t *testing.T) {
	lib := buildLib(t, "c-archive")
	gcc := need(t, "gcc")
	path := mlpBundle(t)
	x, y := readNPY(t, mlpX), readNPY(t, mlpY)
	smoke := filepath.Join(t.TempDir(), "smoke")
	run(t, gcc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I.", "-o", smoke, "testdata/smoke.c", lib, "-lpthread")
	args := []string{path, writeF32(t, "x.f32", tensor.Data[float32](x))}
	for _, d := range x.Shape {
		args = append(args, strconv.Itoa(d))
	}
	out := run(t, smoke, args...)
	t.Logf("smoke output:\n%s", head(out, 6))
	got, shape := parseOutputs(t, out, "y")
	compare(t, got, shape, y)
	if !strings.HasSuffix(out, "ok\n") {
		t.Errorf("smoke did not finish with ok:\n%s", out)
	}
	// The exposure the callback saw is in the state file it kept.
	m := regexp.MustCompile(`(?m)^exposed (\S+) (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure printed:\n%s", out)
	}
	state, err := os.ReadFile(args[1] + ".exposure.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"exposed":[%q]}`, m[1]+"@"+m[2]); string(state) != want {
		t.Errorf("exposure state %s, want %s", state, want)
	}
}

// TestRun checks the Go side of sextant_predict without C: outputs within
// 1e-5 of PyTorch's, input errors reported with their status, and no heap
// allocations per prediction in steady state.
func TestRun(t *testing.T) {
	m, err := openModel(mlpBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	x, y := readNPY(t, mlpX), readNPY(t, mlpY)
	shape := []int64{int64(x.Shape[0]), int64(x.Shape[1])}
	data := [][]float32{tensor.Data[float32](x)}
	shapes := [][]int64{shape}
	m.mu.Lock()
	defer m.mu.Unlock()
	outs, err := m.run(data, shapes)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, tensor.Data[float32](outs[0]), outs[0].Shape, y)
	if a := testing.AllocsPerRun(20, func() {
		if _, err := m.run(data, shapes); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("run allocates %.1f times per call, want 0", a)
	}
	for _, tc := range []struct {
		name   string
		data   [][]float32
		shapes [][]int64
	}{
		{"no inputs", nil, nil},
		{"short data", [][]float32{data[0][:10]}, shapes},
		{"wrong dim", [][]float32{make([]float32, 2*33)}, [][]int64{{2, 33}}},
		{"zero dim", [][]float32{{}}, [][]int64{{0, 32}}},
		{"huge", [][]float32{{}}, [][]int64{{1 << 40, 1 << 40}}},
	} {
		if _, err := m.run(tc.data, tc.shapes); codeOf(err) != statusInput {
			t.Errorf("%s: got %v (status %d), want SEXTANT_ERR_INPUT", tc.name, err, codeOf(err))
		}
	}
	if _, err := openModel(filepath.Join(t.TempDir(), "missing.sxm")); codeOf(err) != statusOpen {
		t.Errorf("missing bundle: %v (status %d), want SEXTANT_ERR_OPEN", err, codeOf(err))
	}
}

// parseOutputs reads the "output NAME RANK DIM..." line for name and the
// values after it.
func parseOutputs(t *testing.T, out, name string) ([]float32, tensor.Shape) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "output" || f[1] != name {
			continue
		}
		rank, _ := strconv.Atoi(f[2])
		if len(f) != 3+rank {
			t.Fatalf("bad output line %q", l)
		}
		shape := make(tensor.Shape, rank)
		n := 1
		for j := range shape {
			shape[j], _ = strconv.Atoi(f[3+j])
			n *= shape[j]
		}
		if i+1+n > len(lines) {
			t.Fatalf("output %s: want %d values, have %d lines", name, n, len(lines)-i-1)
		}
		v := make([]float32, n)
		for j := range v {
			x, err := strconv.ParseFloat(strings.TrimSpace(lines[i+1+j]), 32)
			if err != nil {
				t.Fatalf("value %d: %v", j, err)
			}
			v[j] = float32(x)
		}
		return v, shape
	}
	t.Fatalf("no output %q in:\n%s", name, out)
	return nil, nil
}

// compare checks got (shaped shape) against want within tol.
func compare(t *testing.T, got []float32, shape tensor.Shape, want *tensor.Tensor) {
	t.Helper()
	if !shape.Equal(want.Shape) {
		t.Fatalf("shape %v, want %v", shape, want.Shape)
	}
	w := tensor.Data[float32](want)
	worst := 0.0
	for i := range w {
		d := math.Abs(float64(got[i]) - float64(w[i]))
		if !(d <= tol) {
			t.Errorf("element %d: %v, want %v (|diff| %.3g > %g)", i, got[i], w[i], d, tol)
			return
		}
		worst = max(worst, d)
	}
	t.Logf("%d values, max |diff| from PyTorch %.3g", len(w), worst)
}

// head returns the first n lines of s.
func head(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return fmt.Sprint(strings.Join(l, "\n"))
}
