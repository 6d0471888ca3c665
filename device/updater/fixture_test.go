package updater

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// spec describes a test bundle: y = x · scale, padded with pad bytes of
// seeded random data (a stand-in for weights), with golden data that
// passes unless badGolden.
type spec struct {
	version    string
	scale      float32
	pad        int
	seed       uint64
	changed    int // bytes of pad rewritten relative to seed's (for deltas)
	minRuntime string
	badGolden  bool
}

// built is a bundle written to disk.
type built struct {
	path   string
	data   []byte
	sha256 string
}

func buildBundle(t testing.TB, dir string, s spec) built {
	t.Helper()
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	w := &graph.Value{Name: "w", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4}), Const: tensor.From([]float32{s.scale, s.scale, s.scale, s.scale}, 1, 4)}
	y := &graph.Value{Name: "y", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	n := &graph.Node{Name: "mul", Op: "Mul", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{y}}
	y.Producer = n
	g := &graph.Graph{Name: "m", Opset: 17, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w}, Nodes: []*graph.Node{n}}
	in := tensor.From([]float32{1, 2, 3, 4}, 1, 4)
	k := s.scale
	if s.badGolden {
		k += 1
	}
	out := tensor.From([]float32{k, 2 * k, 3 * k, 4 * k}, 1, 4)
	pad := make([]byte, s.pad)
	r := rand.New(rand.NewPCG(s.seed, 7))
	for i := range pad {
		pad[i] = byte(r.Uint32())
	}
	r2 := rand.New(rand.NewPCG(s.seed+1000, uint64(s.changed)))
	for i := 0; i < s.changed && s.pad > 0; i++ {
		pad[r2.IntN(s.pad)] ^= 0x5a
	}
	m := &bundle.Manifest{
		Name: "eta", Version: s.version, Signature: bundle.SignatureOf(g),
		Golden: &bundle.Golden{
			Inputs:    []bundle.TensorRef{{Name: "x", Tensor: "golden/in/x"}},
			Outputs:   []bundle.TensorRef{{Name: "y", Tensor: "golden/out/y"}},
			Tolerance: bundle.Tolerance{Abs: 1e-6, Rel: 1e-5},
		},
		Provenance:        bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC()},
		MinRuntimeVersion: s.minRuntime,
	}
	var buf bytes.Buffer
	extras := []bundle.Extra{{Name: "golden/in/x", Tensor: in}, {Name: "golden/out/y", Tensor: out}}
	if s.pad > 0 {
		extras = append(extras, bundle.Extra{Name: "pad", Tensor: tensor.From(pad, s.pad)})
	}
	if err := bundle.Write(&buf, g, m, extras...); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "eta-"+s.version+".sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return built{path: path, data: buf.Bytes(), sha256: hex.EncodeToString(sum[:])}
}

func (b built) target(version string) Target {
	return Target{Name: "eta", Version: version, Length: int64(len(b.data)), SHA256: b.sha256, Ops: []string{"Mul"}}
}

// server serves blobs by content address with http.ServeContent (Range,
// If-Range, ETag) and counts what it sends.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	blobs map[string][]byte // sha hex → content
	etag  map[string]string // sha hex → ETag override
	sent  atomic.Int64
	// cutAfter, when > 0, ends the next response after that many bytes.
	cutAfter atomic.Int64
	reqs     []*http.Request
}

func newServer(t testing.TB) *server {
	s := &server{blobs: map[string][]byte{}, etag: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) put(sha string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[sha] = b
}

func (s *server) url(sha string) string { return s.URL + "/blobs/sha256/" + sha }

type countingWriter struct {
	http.ResponseWriter
	s     *server
	limit int64
	n     int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.limit > 0 && c.n+int64(len(p)) > c.limit {
		p = p[:c.limit-c.n]
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	c.s.sent.Add(int64(n))
	if c.limit > 0 && c.n >= c.limit {
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	return n, err
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	sha := strings.TrimPrefix(r.URL.Path, "/blobs/sha256/")
	s.mu.Lock()
	b, ok := s.blobs[sha]
	et := s.etag[sha]
	s.reqs = append(s.reqs, r.Clone(context.Background()))
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if et == "" {
		et = `"` + sha + `"`
	}
	w.Header().Set("ETag", et)
	cw := &countingWriter{ResponseWriter: w, s: s, limit: s.cutAfter.Swap(0)}
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(b))
}

// verifier is a Verifier with fixed answers.
type verifier struct {
	mu      sync.Mutex
	targets []Target
	err     error
	seen    []*Manifest
}

func (v *verifier) Targets(ctx context.Context, m *Manifest) ([]Target, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen = append(v.seen, m)
	return v.targets, v.err
}

func (v *verifier) set(ts ...Target) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.targets, v.err = ts, nil
}

// env is a store, server, verifier and updater for one test.
type env struct {
	dir   string
	st    *store.Store
	srv   *server
	ver   *verifier
	u     *Updater
	fixes string
}

func newEnv(t testing.TB, fsys store.FS, budget int64, mod func(*Config)) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), srv: newServer(t), ver: &verifier{}}
	e.fixes = t.TempDir()
	e.reopen(t, fsys, budget, mod)
	return e
}

func (e *env) reopen(t testing.TB, fsys store.FS, budget int64, mod func(*Config)) {
	t.Helper()
	st, err := store.Open(fsys, filepath.Join(e.dir, "store"), budget)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Verifier: e.ver, BlobURL: e.srv.url, Transport: httptransport.New(e.srv.Client()), CopyBufferBytes: 64 << 10}
	if mod != nil {
		mod(&cfg)
	}
	u, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.st, e.u = st, u
}

// publish builds a bundle, serves it and returns its target.
func (e *env) publish(t testing.TB, s spec) (Target, built) {
	b := buildBundle(t, e.fixes, s)
	e.srv.put(b.sha256, b.data)
	return b.target(s.version), b
}

// current loads the current model and returns its version, checking the
// file's hash against the store's record.
func (e *env) current(t testing.TB) string {
	t.Helper()
	b, v, err := e.st.Load("eta")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer b.Close()
	if got := hashFile(store.OS, e.st.Path("eta", v.Version)); got != v.SHA256 {
		t.Fatalf("current %s hashes to %s, installed as %s", v.Version, got, v.SHA256)
	}
	return v.Version
}

func mustCheckIn(t testing.TB, u *Updater) *Report {
	t.Helper()
	rep, err := u.CheckIn(context.Background())
	if err != nil {
		t.Fatalf("check-in: %v", err)
	}
	return rep
}

func fmtOutcomes(r *Report) string {
	var b strings.Builder
	for _, o := range r.Outcomes {
		fmt.Fprintf(&b, "%s %s installed=%v uptodate=%v delta=%v err=%v; ", o.Target.Name, o.Target.Version, o.Installed, o.UpToDate, o.Delta, o.Err)
	}
	return b.String()
}
