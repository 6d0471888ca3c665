package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// inferServer starts a server with model "eta" (y = 2x, x float32[1,4])
// current, and returns it with a device credential.
func inferServer(t *testing.T, rate Rate) (*running, string) {
	t.Helper()
	kd, tk := keyDir(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), t.TempDir(), kd, func(c *Config) {
		c.DeviceRate = rate
	})
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	p := inferBundle(t)
	publish(t, r.client(pub), kd, tk, p, "eta")
	if _, err := r.client(roll).SetCurrent(context.Background(), "eta", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	return r, enrol(t, r, kd, enroll).reg.Credential
}

// inferBundle writes eta@1.0.0: y = 2x with x public.
func inferBundle(t *testing.T) string {
	x := &graph.Value{Name: "x", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	w := &graph.Value{Name: "w", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4}), Const: tensor.From([]float32{2, 2, 2, 2}, 1, 4)}
	y := &graph.Value{Name: "y", Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1, 4})}
	n := &graph.Node{Name: "mul", Op: "Mul", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{y}}
	y.Producer = n
	g := &graph.Graph{Name: "m", Opset: 17, Inputs: []*graph.Value{x}, Outputs: []*graph.Value{y}, Initializers: []*graph.Value{w}, Nodes: []*graph.Node{n}}
	m := &bundle.Manifest{Name: "eta", Version: "1.0.0", Signature: bundle.SignatureOf(g)}
	m.Signature.Inputs[0].Privacy = bundle.Public
	path := filepath.Join(t.TempDir(), "eta.sxm")
	if err := bundle.WriteFile(path, g, m); err != nil {
		t.Fatal(err)
	}
	return path
}

func postInfer(t *testing.T, url, cred, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/infer/eta", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInferValidation(t *testing.T) {
	r, cred := inferServer(t, Rate{PerSecond: 1000, Burst: 1000})
	x := base64.StdEncoding.EncodeToString(tensor.Bytes([]float32{1, 2, 3, 4}))
	ok := `{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"` + x + `"}}}`
	st, body := postInfer(t, r.url, cred, ok)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	want := base64.StdEncoding.EncodeToString(tensor.Bytes([]float32{2, 4, 6, 8}))
	if !strings.Contains(body, want) || !strings.Contains(body, `"version":"1.0.0"`) {
		t.Fatalf("answer %s, want y=%s", body, want)
	}
	for _, tc := range []struct{ body, reason string }{
		{`{"inputs":{}}`, `input \"x\" is missing`},
		{`{"inputs":{"x":{"dtype":"float64","shape":[1,4],"data":"` + x + `"}}}`, "dtype float64, want float32"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[1,3],"data":"` + x + `"}}}`, "shape [1 3]"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[4],"data":"` + x + `"}}}`, "rank 1, want 2"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"AAAA"}}}`, "data bytes"},
		{`{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"` + x + `"},"z":{"dtype":"float32","shape":[1],"data":"AAAAAA=="}}}`, `\"z\" is not in the model's signature`},
	} {
		st, body := postInfer(t, r.url, cred, tc.body)
		if st != 400 || !strings.Contains(body, tc.reason) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.body, st, body, tc.reason)
		}
	}
	if st, _ := postInfer(t, r.url, "nope", ok); st != 401 {
		t.Errorf("unknown credential: %d", st)
	}
	if st, _ := postInfer(t, r.url, cred, `{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"`+strings.Repeat("A", 2<<20)+`"}}}`); st != 413 {
		t.Errorf("2 MiB body: %d, want 413", st)
	}
}

// wireRecorder is a loopback TCP proxy that keeps every byte each client
// connection sends.
type wireRecorder struct {
	mu    sync.Mutex
	conns [][]byte
}

func (rc *wireRecorder) serve(t *testing.T, upstream string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				var buf bytes.Buffer
				go io.Copy(c, u)
				io.Copy(io.MultiWriter(u, &buf), c)
				rc.mu.Lock()
				rc.conns = append(rc.conns, buf.Bytes())
				rc.mu.Unlock()
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

type fixedLocal struct{}

func (fixedLocal) Run(ctx context.Context, in map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return map[string]*tensor.Tensor{"y": tensor.From([]float32{0, 0, 0, 0}, 1, 4)}, nil
}

// canaries are the encodings of v an observer could search for.
func canaries(v float32) [][]byte {
	var out [][]byte
	b4, b8 := make([]byte, 4), make([]byte, 8)
	binary.LittleEndian.PutUint32(b4, math.Float32bits(v))
	out = append(out, append([]byte(nil), b4...))
	binary.BigEndian.PutUint32(b4, math.Float32bits(v))
	out = append(out, append([]byte(nil), b4...))
	binary.LittleEndian.PutUint64(b8, math.Float64bits(float64(v)))
	out = append(out, append([]byte(nil), b8...))
	binary.BigEndian.PutUint64(b8, math.Float64bits(float64(v)))
	out = append(out, append([]byte(nil), b8...))
	for _, raw := range out[:4] {
		out = append(out, []byte(base64.StdEncoding.EncodeToString(raw)))
	}
	out = append(out, []byte(strconv.FormatFloat(float64(v), 'g', -1, 32)), []byte(strconv.FormatFloat(float64(v), 'g', -1, 64)))
	return out
}

// TestWirePrivateInputsNeverLeave sends 200 requests through the device
// router to a real server on loopback, each with random values of the
// private input and of a sensitive one (within one bucket), and checks every
// byte the SDK sent: all requests are identical (the protocol declares no
// nonces) and no encoding of any private or raw sensitive value appears.
func TestWirePrivateInputsNeverLeave(t *testing.T) {
	r, cred := inferServer(t, Rate{PerSecond: 1000, Burst: 1000})
	rc := &wireRecorder{}
	url := rc.serve(t, strings.TrimPrefix(r.url, "http://"))
	f := graph.Fixed
	m := &bundle.Manifest{Name: "eta-device", Version: "1.0.0", Signature: bundle.Signature{
		Inputs: []bundle.Input{
			{Name: "home", DType: "float32", Shape: bundle.Shape{f(1), f(2)}, Privacy: bundle.Private},
			{Name: "x", DType: "float32", Shape: bundle.Shape{f(1), f(4)}, Privacy: bundle.Sensitive,
				Coarsening: &bundle.Coarsening{Kind: bundle.CoarsenBucket, Edges: []float64{0, 10, 20, 30}}},
		},
		Outputs: []bundle.Output{{Name: "y", DType: "float32", Shape: bundle.Shape{f(1), f(4)}}},
	}, ServerVariant: &bundle.ServerVariant{Model: "eta", Inputs: []string{"x"}}}
	client := httptransport.Getter{Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	rt := router.New(router.Config{ServerURL: url, Poster: client, Header: map[string]string{"Authorization": "Bearer " + cred}})
	if err := rt.Register("eta", router.Model{Manifest: m, Local: fixedLocal{}, Policy: router.PreferServer}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var private []float32
	const n = 200
	for i := 0; i < n; i++ {
		a, b := float32(rng.NormFloat64()*1000), float32(rng.Float64()*90)
		// The sensitive input varies within one bucket, [10, 20): it
		// leaves only as the bucket's index, 2.
		x := make([]float32, 4)
		for j := range x {
			x[j] = 10.001 + float32(rng.Float64()*9.99)
		}
		private = append(append(private, a, b), x...)
		res, err := rt.Predict(context.Background(), "eta", map[string]*tensor.Tensor{
			"home": tensor.From([]float32{a, b}, 1, 2),
			"x":    tensor.From(x, 1, 4),
		})
		if err != nil || res.Source != router.SourceServer || tensor.Data[float32](res.Outputs["y"])[3] != 4 {
			t.Fatalf("request %d: %v %+v", i, err, res)
		}
	}
	// A connection is recorded when the client closes it, just after its
	// answer: wait for the last ones.
	var conns [][]byte
	for range 200 {
		rc.mu.Lock()
		conns = rc.conns
		rc.mu.Unlock()
		if len(conns) >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(conns) != n {
		t.Fatalf("%d connections recorded, want %d", len(conns), n)
	}
	for i, c := range conns {
		if !bytes.Equal(c, conns[0]) {
			t.Fatalf("request %d differs from request 0:\n%q\n%q", i, c, conns[0])
		}
	}
	for _, v := range private {
		for _, enc := range canaries(v) {
			if bytes.Contains(conns[0], enc) {
				t.Fatalf("private value %v appears on the wire as %q", v, enc)
			}
		}
	}
	t.Logf("%d requests of %d bytes each, identical; %d private and raw sensitive values × %d encodings absent", n, len(conns[0]), len(private), len(canaries(0)))
}

func TestInferRateLimitPerDevice(t *testing.T) {
	r, cred := inferServer(t, Rate{PerSecond: 0.001, Burst: 3})
	x := base64.StdEncoding.EncodeToString(tensor.Bytes([]float32{1, 2, 3, 4}))
	body := `{"inputs":{"x":{"dtype":"float32","shape":[1,4],"data":"` + x + `"}}}`
	var got []int
	for range 5 {
		st, _ := postInfer(t, r.url, cred, body)
		got = append(got, st)
	}
	if got[0] != 200 || got[2] != 200 || got[3] != 429 || got[4] != 429 {
		t.Fatalf("statuses %v, want 3 × 200 then 429", got)
	}
}
