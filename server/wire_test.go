package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/device/sdk"
	devtelemetry "github.com/sextant-ml/sextant/device/telemetry"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/privacy/telemetry"
	"github.com/sextant-ml/sextant/tensor"
)

// wireRecorder is a loopback TCP proxy that keeps every byte each client
// connection sends.
type wireRecorder struct {
	mu    sync.Mutex
	conns [][]byte
	open  sync.WaitGroup
}

// settle waits until two recorded connections carry installed (the
// device's check-in with its models in place) and returns how many
// connections the setup took; from then on only the varied values change
// what the device sends.
func (rc *wireRecorder) settle(t *testing.T, deadline time.Time, installed string) int {
	t.Helper()
	for {
		rc.mu.Lock()
		k, n := 0, len(rc.conns)
		for _, c := range rc.conns {
			if bytes.Contains(c, []byte(installed)) {
				k++
			}
		}
		rc.mu.Unlock()
		if k >= 2 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("the device never checked in with %s", installed)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
			rc.open.Add(1)
			go func() {
				defer rc.open.Done()
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

// canaries are the encodings of v an observer could search for: float32
// and float64, little- and big-endian (the first four, which the test also
// looks for inside decoded base64), their base64, and decimal.
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

// wireServerBundle writes eta@1.0.0, the server variant: y = 2x + 0·slot,
// x float32[1,4] and slot float32[1,1].
func wireServerBundle(t *testing.T) string {
	b := graph.NewBuilder("eta", 17)
	b.Input("x", tensor.Float32, 1, 4)
	b.Input("slot", tensor.Float32, 1, 1)
	b.Initializer("w", tensor.From([]float32{2, 2, 2, 2}, 1, 4))
	b.Initializer("zero", tensor.From([]float32{0}, 1, 1))
	b.Node("Add", []string{b.Op("Mul", nil, "x", "w"), b.Op("Mul", nil, "slot", "zero")}, []string{"y"}, nil)
	b.Output("y")
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: "eta", Version: "1.0.0", Signature: bundle.SignatureOf(g)}
	for i := range m.Signature.Inputs {
		m.Signature.Inputs[i].Privacy = bundle.Public
	}
	path := filepath.Join(t.TempDir(), "eta.sxm")
	if err := bundle.WriteFile(path, g, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// wireDeviceBundle writes eta-device@1.0.0, the on-device model with a
// private input (home), a sensitive one coarsened to buckets (x) and a
// sensitive time coarsened to its 30-minute slot (slot), with golden data
// for the updater's self-test. Its server variant is eta, which sees x
// and slot coarsened and never home.
func wireDeviceBundle(t *testing.T) string {
	b := graph.NewBuilder("eta-device", 17)
	b.Input("home", tensor.Float32, 1, 2)
	b.Input("x", tensor.Float32, 1, 4)
	b.Input("slot", tensor.Float32, 1, 1)
	b.Initializer("w", tensor.From([]float32{2, 2, 2, 2}, 1, 4))
	b.Initializer("zero", tensor.From([]float32{0}, 1, 1))
	b.Initializer("zero2", tensor.From([]float32{0, 0}, 1, 2))
	b.Node("Mul", []string{"x", "w"}, []string{"y"}, nil)
	b.Node("Mul", []string{"home", "zero2"}, []string{"h"}, nil)
	b.Node("Mul", []string{"slot", "zero"}, []string{"s"}, nil)
	b.Output("y", "h", "s")
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: "eta-device", Version: "1.0.0", Signature: bundle.SignatureOf(g),
		ServerVariant: &bundle.ServerVariant{Model: "eta", Inputs: []string{"x", "slot"}},
		Golden: &bundle.Golden{
			Inputs: []bundle.TensorRef{{Name: "home", Tensor: "golden/in/home"}, {Name: "x", Tensor: "golden/in/x"},
				{Name: "slot", Tensor: "golden/in/slot"}},
			Outputs:   []bundle.TensorRef{{Name: "y", Tensor: "golden/out/y"}},
			Tolerance: bundle.Tolerance{Abs: 1e-6, Rel: 1e-5},
		},
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC(), DataSnapshot: "sha256:feed", TrainingRun: "run-1"}}
	in := m.Signature.Inputs
	in[0].Privacy = bundle.Private
	in[1].Privacy, in[1].Coarsening = bundle.Sensitive, &bundle.Coarsening{Kind: bundle.CoarsenBucket, Edges: []float64{0, 10, 20, 30}}
	in[2].Privacy, in[2].Coarsening = bundle.Sensitive, &bundle.Coarsening{Kind: bundle.CoarsenTimeSlot, Minutes: 30}
	var buf bytes.Buffer
	err := bundle.Write(&buf, g, m,
		bundle.Extra{Name: "golden/in/home", Tensor: tensor.From([]float32{1, 2}, 1, 2)},
		bundle.Extra{Name: "golden/in/x", Tensor: tensor.From([]float32{1, 2, 3, 4}, 1, 4)},
		bundle.Extra{Name: "golden/in/slot", Tensor: tensor.From([]float32{450}, 1, 1)},
		bundle.Extra{Name: "golden/out/y", Tensor: tensor.From([]float32{2, 4, 6, 8}, 1, 4)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "eta-device.sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wirePrivateBundle writes nd-device@1.0.0, a stand-in for the
// next-destination model: every input private (visits float32[1,3]), no
// server variant, logits = 3·visits, with golden data.
func wirePrivateBundle(t *testing.T) string {
	b := graph.NewBuilder("nd-device", 17)
	b.Input("visits", tensor.Float32, 1, 3)
	b.Initializer("w", tensor.From([]float32{3, 3, 3}, 1, 3))
	b.Node("Mul", []string{"visits", "w"}, []string{"logits"}, nil)
	b.Output("logits")
	g := b.Graph()
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Name: "nd-device", Version: "1.0.0", Signature: bundle.SignatureOf(g),
		Golden: &bundle.Golden{
			Inputs:    []bundle.TensorRef{{Name: "visits", Tensor: "golden/in/visits"}},
			Outputs:   []bundle.TensorRef{{Name: "logits", Tensor: "golden/out/logits"}},
			Tolerance: bundle.Tolerance{Abs: 1e-6, Rel: 1e-5},
		},
		Provenance: bundle.Provenance{CreatedAt: time.Unix(1700000000, 0).UTC(), DataSnapshot: "sha256:feed", TrainingRun: "run-1"}}
	m.Signature.Inputs[0].Privacy = bundle.Private
	var buf bytes.Buffer
	err := bundle.Write(&buf, g, m,
		bundle.Extra{Name: "golden/in/visits", Tensor: tensor.From([]float32{1, 2, 3}, 1, 3)},
		bundle.Extra{Name: "golden/out/logits", Tensor: tensor.From([]float32{3, 6, 9}, 1, 3)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nd-device.sxm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wireRequest is one HTTP request read back from a recorded connection.
type wireRequest struct {
	key string // "METHOD /path" with the device's ID replaced
	raw []byte // the bytes sent on the connection
}

// declaredNonces are the parts of a request the protocol declares as
// varying between otherwise equal requests; they are masked before
// requests are compared (the unmasked bytes are still searched for
// canaries). There is no nonce as such: a check-in's health report carries
// counters that grow with use (inferences, the latency histogram's
// buckets), and the body's length follows them.
var declaredNonces = []*regexp.Regexp{
	regexp.MustCompile(`"inferences":[0-9]+`),
	regexp.MustCompile(`"latency":\[[0-9,]*\]`),
	regexp.MustCompile(`Content-Length: [0-9]+`),
}

// healthReport matches a check-in's health report once its counters are
// masked: model and version names only. A check-in without new inferences
// carries none, so a report of that form is dropped before comparing.
var healthReport = regexp.MustCompile(`,"health":\{"entries":\[(\{"model":"[a-z0-9-]+","version":"[0-9a-z.+-]+",<nonce>,<nonce>\},?)+\]\}`)

// TestWirePrivateInputsNeverLeave runs the device SDK against a real server
// on loopback through a proxy that records every byte the device sends —
// check-ins with their health reports, metadata and bundle downloads,
// server inference and telemetry batches — across 1,000 rounds, each a
// prediction of a hybrid model (prefer-server) with random values of a
// private input (home), of a sensitive input that varies within one bucket
// (x) and of a sensitive time that varies within one 30-minute slot
// (slot); a prediction of an all-private, on-device-only model (the
// next-destination case), which must never reach the server; and a
// telemetry report. Requests of
// each kind must be byte-identical apart from declared nonces (the health
// report's usage counters), and no encoding of any private or raw sensitive
// value may appear anywhere in the traffic.
func TestWirePrivateInputsNeverLeave(t *testing.T) {
	reg := telemetryRegistry(t)
	w := newWireDevice(t, func(c *Config) { c.Telemetry = TelemetryConfig{Registry: reg} },
		[][2]string{{"eta", wireServerBundle(t)}, {"eta-device", wireDeviceBundle(t)}, {"nd-device", wirePrivateBundle(t)}},
		map[string]router.Policy{"eta-device": router.PreferServer, "nd-device": router.OnDevice})
	s, rc, url, tr, setup := w.sdk, w.rc, w.url, w.tr, w.setup
	ctx := context.Background()
	sender, err := devtelemetry.New(devtelemetry.Config{Poster: tr, URL: url + "/v1/telemetry",
		Rand: rand.New(rand.NewPCG(3, 3)), MaxDelay: time.Millisecond, MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	sent := make(chan struct{})
	go func() { sender.Run(sctx); close(sent) }()
	opened, err := reg.Lookup("app_opened")
	if err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	var secret []float32
	const n = 1000
	for i := range n {
		home := []float32{float32(rng.NormFloat64() * 1000), float32(rng.Float64() * 90)}
		// x varies within the bucket [10, 20) and leaves as its index, 2;
		// slot within 07:30–08:00 and leaves as 450.
		x := make([]float32, 4)
		for j := range x {
			x[j] = 10.001 + float32(rng.Float64()*9.99)
		}
		slot := float32(450.001 + rng.Float64()*29.99)
		secret = append(append(append(secret, home...), x...), slot)
		res, err := s.Predict(ctx, "eta-device", map[string]*tensor.Tensor{
			"home": tensor.From(home, 1, 2), "x": tensor.From(x, 1, 4), "slot": tensor.From([]float32{slot}, 1, 1),
		})
		if err != nil || res.Source != router.SourceServer || tensor.Data[float32](res.Outputs["y"])[3] != 4 {
			t.Fatalf("request %d: %v %+v", i, err, res)
		}
		// The next-destination stand-in: all inputs private, on device
		// only.
		visits := []float32{float32(rng.NormFloat64() * 50), float32(rng.NormFloat64() * 50), float32(rng.NormFloat64() * 50)}
		secret = append(secret, visits...)
		nd, err := s.Predict(ctx, "nd-device", map[string]*tensor.Tensor{"visits": tensor.From(visits, 1, 3)})
		if err != nil || nd.Source != router.SourceDevice || tensor.Data[float32](nd.Outputs["logits"])[0] != 3*visits[0] {
			t.Fatalf("nd-device request %d: %v %+v", i, err, nd)
		}
		item, err := opened.Item(map[string]any{"screen": "map"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Enqueue(telemetry.AppendReport(nil, &telemetry.Report{Stream: "app_opened", Mechanism: telemetry.None, Item: []byte(item)})); err != nil {
			t.Fatal(err)
		}
	}
	for sendBy := time.Now().Add(30 * time.Second); sender.Stats().Sent < n && time.Now().Before(sendBy); {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-sent
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := sender.Stats(); st.Sent != n {
		t.Fatalf("telemetry: %+v", st)
	}
	// A connection is recorded when the client closes it.
	for range 500 {
		rc.mu.Lock()
		k := len(rc.conns)
		rc.mu.Unlock()
		if k >= 2*n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	rc.mu.Lock()
	conns := append([][]byte(nil), rc.conns...)
	rc.mu.Unlock()

	byKind := map[string][][]byte{}
	var all []byte
	for i, c := range conns {
		if len(c) == 0 {
			// A connection the transport dialled and closed unused (under
			// load a request may go out on another one): no bytes left.
			continue
		}
		all = append(all, c...)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c)))
		if err != nil {
			t.Fatalf("recorded bytes are not an HTTP request: %v\n%q", err, c[:min(len(c), 200)])
		}
		key := req.Method + " " + strings.ReplaceAll(req.URL.Path, w.id, "{device}")
		if i < setup {
			continue // before the first prediction: canaries only
		}
		masked := c
		for _, re := range declaredNonces {
			masked = re.ReplaceAll(masked, []byte("<nonce>"))
		}
		masked = healthReport.ReplaceAll(masked, nil)
		byKind[key] = append(byKind[key], masked)
	}
	counts := map[string]int{}
	for key, reqs := range byKind {
		counts[key] = len(reqs)
		// Check-ins and telemetry, like inference, must not vary with
		// the private values; downloads of metadata and bundles are
		// checked for canaries only (different files differ).
		if strings.HasPrefix(key, "GET ") {
			continue
		}
		for i, c := range reqs {
			if !bytes.Equal(c, reqs[0]) {
				t.Errorf("%s: request %d differs from request 0:\n%q\n%q", key, i, c, reqs[0])
				break
			}
		}
	}
	for k := range counts {
		if strings.HasPrefix(k, "POST /v1/infer/") && k != "POST /v1/infer/eta" {
			t.Errorf("%s: an on-device model reached the server", k)
		}
	}
	if counts["POST /v1/infer/eta"] != n || counts["POST /v1/telemetry"] != n || counts["POST /v1/devices/{device}/checkin"] < 10 {
		t.Fatalf("requests by kind %v, want %d inferences, %d telemetry batches and check-ins", counts, n, n)
	}
	// Base64 inside a longer string is not found by searching for a
	// value's own base64 (its alignment differs), so every quoted base64
	// string (the tensors' "data") is decoded and searched as well.
	decoded := decodeBase64Strings(all)
	for _, v := range secret {
		for i, enc := range canaries(v) {
			if bytes.Contains(all, enc) {
				t.Fatalf("private or raw sensitive value %v appears on the wire as %q", v, enc)
			}
			if i < 4 && bytes.Contains(decoded, enc) {
				t.Fatalf("private or raw sensitive value %v appears base64-encoded on the wire (% x)", v, enc)
			}
		}
	}
	kinds := make([]string, 0, len(counts))
	for k, c := range counts {
		kinds = append(kinds, k+": "+strconv.Itoa(c))
	}
	sort.Strings(kinds)
	t.Logf("%d connections (%d in setup), %d bytes; after setup: %s; %d private and raw sensitive values × %d encodings absent",
		len(conns), setup, len(all), strings.Join(kinds, ", "), len(secret), len(canaries(0)))
}

var quotedBase64 = regexp.MustCompile(`"([A-Za-z0-9+/]{4,}={0,2})"`)

// decodeBase64Strings returns the concatenated decodings of every quoted
// standard-base64 string in b.
func decodeBase64Strings(b []byte) []byte {
	var out []byte
	for _, m := range quotedBase64.FindAllSubmatch(b, -1) {
		if d, err := base64.StdEncoding.DecodeString(string(m[1])); err == nil {
			out = append(append(out, d...), 0)
		}
	}
	return out
}

// wireDevice is a server on loopback with models published and made
// current at 1.0.0, and one enrolled device SDK whose every byte goes
// through a recorder, one request per connection.
type wireDevice struct {
	sdk   *sdk.SDK
	rc    *wireRecorder
	url   string // the recorder's address: the device's server URL
	id    string // the device's ID
	tr    httptransport.Getter
	setup int // connections the setup took (see wireRecorder.settle)
}

// newWireDevice starts the server (tune adjusts its config after the
// wire tests' generous rate limits), publishes models (name, bundle path)
// and opens the device with policies. It returns once every model with a
// policy is installed and the device has checked in with all of them.
func newWireDevice(t *testing.T, tune func(*Config), models [][2]string, policies map[string]router.Policy) *wireDevice {
	t.Helper()
	kd, tk := keyDir(t)
	r := start(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), t.TempDir(), kd, func(c *Config) {
		c.InferRate = Rate{PerSecond: 10000, Burst: 10000}
		c.DeviceRate = Rate{PerSecond: 10000, Burst: 10000}
		if tune != nil {
			tune(c)
		}
	})
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	installed := map[string]string{}
	for _, m := range models {
		publish(t, r.client(pub), kd, tk, m[1], m[0])
		if _, err := r.client(roll).SetCurrent(context.Background(), m[0], "1.0.0"); err != nil {
			t.Fatal(err)
		}
		installed[m[0]] = "1.0.0"
	}
	dev := enrol(t, r, kd, enroll)
	imgRoot, dirRoot := roots(t, kd)
	w := &wireDevice{rc: &wireRecorder{}, id: dev.reg.ID,
		tr: httptransport.Getter{Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}}
	w.url = w.rc.serve(t, strings.TrimPrefix(r.url, "http://"))
	var err error
	w.sdk, err = sdk.Open(context.Background(), sdk.Config{Dir: t.TempDir(), ServerURL: w.url, DeviceID: dev.reg.ID, Credential: dev.reg.Credential,
		ImageRoot: imgRoot, DirectorRoot: dirRoot, Transport: w.tr, CheckInterval: 20 * time.Millisecond, Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for m := range policies {
		for w.sdk.Availability(m) != sdk.Available {
			if time.Now().After(deadline) {
				t.Fatalf("%s never installed", m)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The setup phase ends once the device checks in with every model
	// installed; from then on its state is fixed and only the values the
	// test varies change what it sends.
	want, err := json.Marshal(installed) // sorted keys, as the check-in's
	if err != nil {
		t.Fatal(err)
	}
	w.setup = w.rc.settle(t, deadline, `"installed":`+string(want))
	return w
}
