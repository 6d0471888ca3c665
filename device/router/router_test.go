package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// fakeLocal answers after delay with logits.
type fakeLocal struct {
	delay  time.Duration
	logits []float32
	err    error
}

func (f *fakeLocal) Run(ctx context.Context, in map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	time.Sleep(f.delay)
	if f.err != nil {
		return nil, f.err
	}
	return map[string]*tensor.Tensor{"y": tensor.From(append([]float32(nil), f.logits...), 1, len(f.logits))}, nil
}

// fakeServer is a transport.Poster answering after delay with status.
type fakeServer struct {
	mu     sync.Mutex
	delay  time.Duration
	status int
	calls  int
	bodies [][]byte
}

func (s *fakeServer) Post(ctx context.Context, req transport.Request, ct string, body []byte) (*transport.Response, error) {
	s.mu.Lock()
	s.calls++
	s.bodies = append(s.bodies, body)
	delay, status := s.delay, s.status
	s.mu.Unlock()
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if status != 200 {
		return &transport.Response{Status: status, Body: io.NopCloser(bytes.NewReader([]byte(`{"code":"internal"}`)))}, nil
	}
	w, _ := EncodeTensor(tensor.From([]float32{9, 0}, 1, 2))
	b, _ := json.Marshal(InferResponse{Model: "m-server", Version: "2.0.0", Outputs: map[string]WireTensor{"y": w}})
	return &transport.Response{Status: 200, Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func (s *fakeServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type hostState struct{ HostState }

func (h *hostState) State() HostState { return h.HostState }

func manifest() *bundle.Manifest {
	f := graph.Fixed
	return &bundle.Manifest{Name: "m", Version: "1.0.0",
		Signature: bundle.Signature{
			Inputs: []bundle.Input{
				{Name: "home", DType: "float32", Shape: bundle.Shape{f(1), f(2)}, Privacy: bundle.Private},
				{Name: "hour", DType: "float32", Shape: bundle.Shape{f(1), f(1)}, Privacy: bundle.Sensitive, Coarsening: &bundle.Coarsening{Kind: bundle.CoarsenTimeSlot, Minutes: 30}},
				{Name: "speed", DType: "float32", Shape: bundle.Shape{f(1), f(1)}, Privacy: bundle.Sensitive, Coarsening: &bundle.Coarsening{Kind: bundle.CoarsenBucket, Edges: []float64{10, 50, 90}}},
				{Name: "weather", DType: "float32", Shape: bundle.Shape{f(1), f(1)}, Privacy: bundle.Public},
			},
			Outputs: []bundle.Output{{Name: "y", DType: "float32", Shape: bundle.Shape{f(1), f(2)}}},
		},
		Calibration:   &bundle.Calibration{Temperature: 1, CascadeThreshold: 0.8},
		ServerVariant: &bundle.ServerVariant{Model: "m-server", Inputs: []string{"hour", "speed", "weather"}},
	}
}

func inputs(home float32) map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"home":    tensor.From([]float32{home, -home}, 1, 2),
		"hour":    tensor.From([]float32{7*60 + 43}, 1, 1),
		"speed":   tensor.From([]float32{62}, 1, 1),
		"weather": tensor.From([]float32{3}, 1, 1),
	}
}

func newRouter(srv *fakeServer, host Host) *Router {
	return New(Config{ServerURL: "http://server", Poster: srv, Host: host, Rand: func() float64 { return 0.5 },
		Breaker: BreakerConfig{Failures: 3, Cooldown: 10 * time.Second}})
}

func TestPolicies(t *testing.T) {
	confident := []float32{5, 0} // p ≈ 0.993
	unsure := []float32{0.1, 0}  // p ≈ 0.525
	for _, tc := range []struct {
		name   string
		policy Policy
		logits []float32
		devErr error
		want   Source
		calls  int
	}{
		{"on-device", OnDevice, unsure, nil, SourceDevice, 0},
		{"prefer-device", PreferDevice, unsure, nil, SourceDevice, 0},
		{"prefer-device falls back", PreferDevice, unsure, errors.New("boom"), SourceServer, 1},
		{"prefer-server", PreferServer, confident, nil, SourceServer, 1},
		{"server-only", ServerOnly, confident, nil, SourceServer, 1},
		{"cascade confident", Cascade, confident, nil, SourceDevice, 0},
		{"cascade escalates", Cascade, unsure, nil, SourceServer, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := &fakeServer{delay: 30 * time.Millisecond, status: 200}
				r := newRouter(srv, nil)
				r.Register("m", Model{Manifest: manifest(), Policy: tc.policy, Local: &fakeLocal{delay: 5 * time.Millisecond, logits: tc.logits, err: tc.devErr}})
				res, err := r.Predict(context.Background(), "m", inputs(1))
				if err != nil {
					t.Fatal(err)
				}
				if res.Source != tc.want || srv.count() != tc.calls {
					t.Fatalf("source %s with %d server calls, want %s with %d", res.Source, srv.count(), tc.want, tc.calls)
				}
				wantV := map[Source]string{SourceDevice: "1.0.0", SourceServer: "2.0.0"}[tc.want]
				if res.Version != wantV || res.Latency <= 0 {
					t.Fatalf("version %q latency %v", res.Version, res.Latency)
				}
			})
		})
	}
}

func TestOfflineAndPrivateStayOnDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServer{status: 200}
		host := &hostState{HostState{Online: false}}
		r := newRouter(srv, host)
		r.Register("m", Model{Manifest: manifest(), Policy: PreferServer, Local: &fakeLocal{logits: []float32{1, 0}}})
		res, err := r.Predict(context.Background(), "m", inputs(1))
		if err != nil || res.Source != SourceDevice || srv.count() != 0 {
			t.Fatalf("offline: %v %s calls %d", err, res.Source, srv.count())
		}
		// A server variant that needs a private input keeps the model on
		// device even online and server-preferring.
		host.Online = true
		m := manifest()
		m.ServerVariant.Inputs = append(m.ServerVariant.Inputs, "home")
		r.Register("p", Model{Manifest: m, Policy: ServerOnly, Local: &fakeLocal{logits: []float32{1, 0}}})
		res, err = r.Predict(context.Background(), "p", inputs(1))
		if err != nil || res.Source != SourceDevice || srv.count() != 0 {
			t.Fatalf("private: %v %s calls %d", err, res.Source, srv.count())
		}
	})
}

func TestRaceWithDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		srvDelay time.Duration
		status   int
		want     Source
		latency  time.Duration
	}{
		{"server in time", 100 * time.Millisecond, 200, SourceServer, 100 * time.Millisecond},
		{"server late", 400 * time.Millisecond, 200, SourceDevice, 250 * time.Millisecond},
		{"server fails", 5 * time.Millisecond, 503, SourceDevice, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := &fakeServer{delay: tc.srvDelay, status: tc.status}
				r := newRouter(srv, nil)
				r.Register("m", Model{Manifest: manifest(), Policy: Race, Deadline: 250 * time.Millisecond, Local: &fakeLocal{delay: 20 * time.Millisecond, logits: []float32{1, 0}}})
				res, err := r.Predict(context.Background(), "m", inputs(1))
				if err != nil {
					t.Fatal(err)
				}
				if res.Source != tc.want || res.Latency != tc.latency {
					t.Fatalf("source %s after %v, want %s after %v", res.Source, res.Latency, tc.want, tc.latency)
				}
			})
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServer{status: 503}
		r := newRouter(srv, nil)
		r.Register("m", Model{Manifest: manifest(), Policy: PreferServer, Local: &fakeLocal{logits: []float32{1, 0}}})
		ctx := context.Background()
		for i := 0; i < 10; i++ {
			res, err := r.Predict(ctx, "m", inputs(1))
			if err != nil || res.Source != SourceDevice {
				t.Fatalf("request %d: %v %s", i, err, res.Source)
			}
		}
		if srv.count() != 3 {
			t.Fatalf("%d server calls; the breaker should open after 3 failures", srv.count())
		}
		// Cooldown is 10 s × jitter 1.0: one probe after it.
		time.Sleep(10 * time.Second)
		srv.mu.Lock()
		srv.status = 200
		srv.mu.Unlock()
		res, _ := r.Predict(ctx, "m", inputs(1))
		if res.Source != SourceServer || srv.count() != 4 {
			t.Fatalf("probe: %s with %d calls", res.Source, srv.count())
		}
	})
}

func TestLatencyAware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServer{delay: 50 * time.Millisecond, status: 200}
		r := newRouter(srv, nil)
		slow := &fakeLocal{delay: 120 * time.Millisecond, logits: []float32{1, 0}}
		r.Register("m", Model{Manifest: manifest(), Policy: LatencyAware, Local: slow})
		ctx := context.Background()
		var got []Source
		for i := 0; i < 4; i++ {
			res, err := r.Predict(ctx, "m", inputs(1))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, res.Source)
		}
		// The device is measured first; with no server measurement and no
		// network model the device keeps answering.
		for i, src := range got {
			if src != SourceDevice || srv.count() != 0 {
				t.Fatalf("request %d: %s with %d server calls, want device", i, src, srv.count())
			}
		}
		// Given server round trips (as runServer records them), the
		// faster side wins.
		r.models["m"].serverEWMA = 50 * time.Millisecond
		res, _ := r.Predict(ctx, "m", inputs(1))
		if res.Source != SourceServer {
			t.Fatalf("device 120 ms vs server 50 ms chose %s", res.Source)
		}
		r.models["m"].serverEWMA = 500 * time.Millisecond
		res, _ = r.Predict(ctx, "m", inputs(1))
		if res.Source != SourceDevice {
			t.Fatalf("device 120 ms vs server 500 ms chose %s", res.Source)
		}
	})
}

func TestEnergyAware(t *testing.T) {
	prof := profile.Builtin()["phone-mid"]
	for _, tc := range []struct {
		network string
		want    Source
	}{
		// Wi-Fi: ≈ 0.03 J per call against 0.12 J for 120 ms of CPU at 1 W.
		{"wifi", SourceServer},
		// LTE: the 11.6 s high-power tail (≈ 12 J) dwarfs the inference.
		{"lte", SourceDevice},
	} {
		t.Run(tc.network, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := &fakeServer{delay: 40 * time.Millisecond, status: 200}
				host := &hostState{HostState{Online: true, Battery: 0.5}}
				r := New(Config{ServerURL: "http://s", Poster: srv, Host: host, Profile: prof, Network: tc.network})
				r.Register("m", Model{Manifest: manifest(), Policy: EnergyAware, WeightBytes: 1 << 20,
					Local: &fakeLocal{delay: 120 * time.Millisecond, logits: []float32{1, 0}}})
				ctx := context.Background()
				if res, _ := r.Predict(ctx, "m", inputs(1)); res.Source != SourceDevice {
					t.Fatalf("first request %s, want device (measuring it)", res.Source)
				}
				res, err := r.Predict(ctx, "m", inputs(1))
				if err != nil || res.Source != tc.want {
					t.Fatalf("%v %s, want %s", err, res.Source, tc.want)
				}
			})
		})
	}
}

func TestAnswerCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &fakeServer{delay: 30 * time.Millisecond, status: 200}
		r := newRouter(srv, nil)
		r.Register("m", Model{Manifest: manifest(), Policy: ServerOnly, CacheSize: 2, CacheTTL: time.Minute})
		ctx := context.Background()
		want := []Source{SourceServer, SourceCache, SourceServer}
		for i, home := range []float32{1, 1, 2} {
			res, err := r.Predict(ctx, "m", inputs(home))
			if err != nil || res.Source != want[i] || res.Version != "2.0.0" {
				t.Fatalf("request %d: %v %s %s, want %s", i, err, res.Source, res.Version, want[i])
			}
		}
		time.Sleep(time.Minute)
		if res, _ := r.Predict(ctx, "m", inputs(1)); res.Source != SourceServer || srv.count() != 3 {
			t.Fatalf("after the TTL: %s with %d calls", res.Source, srv.count())
		}
	})
}
