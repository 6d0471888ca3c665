package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/store"
	"github.com/sextant-ml/sextant/tensor"
)

// keyDir makes a key directory as `sextant keys init` does (low scrypt work
// factor for speed) and returns it with the targets key.
func keyDir(t testing.TB) (signing.KeyDir, *signing.Key) {
	t.Helper()
	kd := signing.KeyDir{Dir: filepath.Join(t.TempDir(), "keys"), Passphrase: "correct horse", WorkFactor: 10}
	keys := map[string]*signing.Key{}
	for _, role := range append(append([]string{}, signing.OfflineRoles...), signing.OnlineRoles...) {
		k, err := signing.GenerateKey(role, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[role] = k
		if err := kd.Save(k, false); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	_, files, err := signing.Init(signing.Config{}, now, signing.RoleKeys{
		Root: []*signing.Key{keys["root"]}, Targets: []*signing.Key{keys["targets"]},
		Snapshot: []*signing.Key{keys["snapshot"].PublicOnly()}, Timestamp: []*signing.Key{keys["timestamp"].PublicOnly()},
	})
	if err != nil {
		t.Fatal(err)
	}
	droot, err := signing.InitDirectorRoot(signing.DirectorConfig{}, now, []*signing.Key{keys["root"]}, []*signing.Key{keys["director"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.WriteFiles(kd.MetadataDir(), files); err != nil {
		t.Fatal(err)
	}
	if err := signing.WriteFiles(kd.DirectorMetadataDir(), []signing.File{droot}); err != nil {
		t.Fatal(err)
	}
	return kd, keys["targets"]
}

// scaleGraph is the graph y = input · scale of 1×4 float32 tensors, the
// input named input and the output y.
func scaleGraph(input string, scale float32) *graph.Graph {
	x := &graph.Value{Name: input, Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	w := &graph.Value{Name: "w", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4}), Const: tensor.From([]float32{scale, scale, scale, scale}, 1, 4)}
	y := &graph.Value{Name: "y", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	n := &graph.Node{Name: "mul", Op: "Mul", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{y}}
	y.Producer = n
	return &graph.Graph{Name: "m", Opset: 17, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w}, Nodes: []*graph.Node{n}}
}

// testBundle writes a small valid bundle of model@version: y = x · scale,
// padded with pad random bytes.
func testBundle(t testing.TB, dir, model, version, parent string, pad int) (string, []byte) {
	t.Helper()
	g := scaleGraph("x", 2)
	m := &bundle.Manifest{Name: model, Version: version, ParentVersion: parent, Signature: bundle.SignatureOf(g),
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC(), DataSnapshot: "sha256:feed",
			TrainingRun: "run-1", Privacy: &bundle.PrivacyCost{Epsilon: 2, Delta: 1e-6}}}
	p := make([]byte, pad)
	rand.Read(p)
	var buf bytes.Buffer
	if err := bundle.Write(&buf, g, m, bundle.Extra{Name: "pad", Tensor: tensor.From(p, pad)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, model+"-"+version+".sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// running is a server started on 127.0.0.1:0 over a store and directories
// that outlive it (for restart tests).
type running struct {
	srv    *Server
	db     *store.DB
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start opens the store at dsn and the state under dir, and serves.
func start(t testing.TB, dsn, dir string, kd signing.KeyDir, tune func(*Config)) *running {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := store.NewBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	sign, err := OpenSigning(ctx, SigningConfig{Metadata: MetadataDir{Dir: filepath.Join(dir, "metadata")}, Keys: signing.KeyDir{Dir: kd.Dir}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: db, Blobs: blobs, Signing: sign, Logger: log}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &running{srv: srv, db: db, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- srv.Run(rctx, ln) }()
	t.Cleanup(r.stop)
	return r
}

// stop shuts the server down gracefully and closes the store; idempotent.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		panic(err)
	}
	r.srv.Close()
	r.db.Close()
	r.cancel = nil
}

func (r *running) client(token string) *Client { return &Client{BaseURL: r.url, Token: token} }

func (r *running) token(t testing.TB, scope delivery.Scope) (delivery.Token, string) {
	t.Helper()
	tok, secret, err := CreateToken(context.Background(), r.db, scope, "test-"+string(scope))
	if err != nil {
		t.Fatal(err)
	}
	return tok, secret
}

// publish uploads and signs a bundle file.
func publish(t testing.TB, c *Client, kd signing.KeyDir, tk *signing.Key, path string, model string) Published {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Publish(context.Background(), model, bytes.NewReader(data), int64(len(data)), sha256.Sum256(data), "test")
	if err != nil {
		t.Fatalf("publish %s: %v", path, err)
	}
	root, err := os.ReadFile(filepath.Join(kd.MetadataDir(), "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignAndUpload(context.Background(), root, p.Target, []*signing.Key{tk}, clock.Real.Now()); err != nil {
		t.Fatalf("sign %s: %v", path, err)
	}
	return p
}

// eachStore runs fn on a fresh SQLite file and on a fresh PostgreSQL
// schema (skipped with a message when no server is reachable, except with
// CI=true, where that fails).
func eachStore(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, pgtest.Schema(t))
	})
}

// code returns the API error code of err ("" if none).
func code(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

func httpStatus(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}
