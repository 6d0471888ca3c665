package sdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/updater"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// makeBundle returns the bytes of a bundle named "eta" computing y = x·scale
// on a [1,4] float32 input, with golden data for the updater's self-test.
func makeBundle(t testing.TB, version string, scale float32) []byte {
	t.Helper()
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	w := &graph.Value{Name: "w", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4}), Const: tensor.From([]float32{scale, scale, scale, scale}, 1, 4)}
	y := &graph.Value{Name: "y", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	n := &graph.Node{Name: "mul", Op: "Mul", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{y}}
	y.Producer = n
	g := &graph.Graph{Name: "m", Opset: 17, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w}, Nodes: []*graph.Node{n}}
	m := &bundle.Manifest{
		Name: "eta", Version: version, Signature: bundle.SignatureOf(g),
		Golden: &bundle.Golden{
			Inputs:    []bundle.TensorRef{{Name: "x", Tensor: "golden/in/x"}},
			Outputs:   []bundle.TensorRef{{Name: "y", Tensor: "golden/out/y"}},
			Tolerance: bundle.Tolerance{Abs: 1e-6, Rel: 1e-5},
		},
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC()},
	}
	in := tensor.From([]float32{1, 2, 3, 4}, 1, 4)
	out := tensor.From([]float32{scale, 2 * scale, 3 * scale, 4 * scale}, 1, 4)
	var buf bytes.Buffer
	if err := bundle.Write(&buf, g, m, bundle.Extra{Name: "golden/in/x", Tensor: in}, bundle.Extra{Name: "golden/out/y", Tensor: out}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// install puts data into the store at dir as the current version of "eta",
// the way the updater does (Install, then Commit).
func install(t testing.TB, dir, version string, data []byte) {
	t.Helper()
	st, err := store.Open(nil, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(st.DownloadDir(), "eta.sxm")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	v := store.Version{Version: version, Size: int64(len(data)), SHA256: hexSHA256(data)}
	if err := st.Install("eta", v, src); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit("eta", version); err != nil {
		t.Fatal(err)
	}
}

// blobs is a transport.Getter serving one blob from memory.
type blobs struct {
	data []byte
	gets atomic.Int64
}

func (b *blobs) Get(ctx context.Context, r transport.Request) (*transport.Response, error) {
	b.gets.Add(1)
	body := b.data[r.Offset:]
	status := transport.StatusOK
	if r.Offset > 0 {
		status = transport.StatusPartialContent
	}
	return &transport.Response{Status: status, ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body))}, nil
}

// offer is an updater.Verifier offering fixed targets and counting
// check-ins.
type offer struct {
	targets  []updater.Target
	checkIns atomic.Int64
}

func (o *offer) Targets(context.Context, *updater.Manifest) ([]updater.Target, error) {
	o.checkIns.Add(1)
	return o.targets, nil
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkNoLeak fails when, after Close, more goroutines run than before
// Open (base).
func checkNoLeak(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d after Close, %d before Open\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
