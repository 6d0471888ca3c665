package main

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// The MLP exported by testdata/torch/export.py: input x (batch × 32),
// output y (batch × 16), with PyTorch's outputs for a seeded x.
const (
	mlpONNX = "../../testdata/torch/mlp_op17.onnx"
	mlpX    = "../../testdata/torch/mlp_op17/x.npy"
	mlpY    = "../../testdata/torch/mlp_op17/y.npy"
)

// tol is the largest difference allowed from PyTorch's outputs.
const tol = 1e-5

// workDir is a directory shared by the tests, removed by TestMain.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sextant-capi-")
	if err != nil {
		panic(err)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	bundleOnce sync.Once
	bundlePath string
	bundleErr  error
)

// mlpBundle converts the MLP to a .sxm bundle (once) the way sextant convert
// does: import, optimize, write with its signature.
func mlpBundle(t *testing.T) string {
	t.Helper()
	bundleOnce.Do(func() {
		src, err := os.ReadFile(mlpONNX)
		if err != nil {
			bundleErr = err
			return
		}
		g, err := onnx.Decode(src)
		if err != nil {
			bundleErr = err
			return
		}
		if _, err := graph.Optimize(g, engine.Evaluator{}, graph.OptimizeOptions{}); err != nil {
			bundleErr = err
			return
		}
		m := &bundle.Manifest{Name: "mlp", Version: "1.0.0", Signature: bundle.SignatureOf(g)}
		bundlePath = filepath.Join(workDir, "mlp.sxm")
		bundleErr = bundle.WriteFile(bundlePath, g, m)
	})
	if bundleErr != nil {
		t.Fatalf("converting the MLP: %v", bundleErr)
	}
	return bundlePath
}

// readNPY reads a float32 .npy fixture.
func readNPY(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	x, err := tensor.ReadNPYFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if x.DType != tensor.Float32 {
		t.Fatalf("%s: dtype %v, want float32", path, x.DType)
	}
	return x
}

// writeF32 writes v as little-endian float32 (the C and Java programs' input
// format) and returns the path.
func writeF32(t *testing.T, name string, v []float32) string {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// need returns the path of a tool the test needs. A missing tool skips the
// test, except in CI (CI=true), where it fails it: CI must run these.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (test.sh installs it): %v", tool, err)
		}
		t.Skipf("%s not found (%v); skipping the host-integration test", tool, err)
	}
	return p
}

// libs holds the libraries built once per test binary, by build mode.
var libs struct {
	sync.Mutex
	path map[string]string
}

// buildLib builds this package with -buildmode=mode (c-archive or c-shared)
// into workDir and returns the library's path; the generated header is
// next to it with the extension .h.
func buildLib(t *testing.T, mode string) string {
	t.Helper()
	need(t, "gcc")
	if runtime.GOOS == "windows" {
		t.Skip("the C ABI tests run on Unix hosts")
	}
	libs.Lock()
	defer libs.Unlock()
	if p, ok := libs.path[mode]; ok {
		return p
	}
	name := map[string]string{"c-archive": "libsextant.a", "c-shared": "libsextant.so"}[mode]
	if name == "" {
		t.Fatalf("unknown build mode %q", mode)
	}
	out := filepath.Join(workDir, mode, name)
	cmd := exec.Command("go", "build", "-buildmode="+mode, "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildmode=%s: %v\n%s", mode, err, b)
	}
	if libs.path == nil {
		libs.path = map[string]string{}
	}
	libs.path[mode] = out
	return out
}

// run runs a command and returns its standard output, failing the test
// with both streams on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out, stderr)
	}
	return string(out)
}
