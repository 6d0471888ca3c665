package flagship

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/eval"
	"github.com/sextant-ml/sextant/features"
	"github.com/sextant-ml/sextant/tensor"
)

// The simulated network of issue 9's bar.
const (
	rttMedian     = 60 * time.Millisecond
	rttP95        = 300 * time.Millisecond
	serverErrors  = 0.02
	offlineShare  = 0.05
	serverCompute = 20 * time.Millisecond
	deadline      = 250 * time.Millisecond
	// targetEscalation is the cascade's escalation budget on the
	// calibration users; retries are not made, so escalations are the
	// only server calls.
	targetEscalation = 0.04
	// meanGap is the mean time between requests; offline spells last
	// 20 s on average.
	meanGap     = 2 * time.Second
	meanOffline = 20 * time.Second
)

// simNet is the simulated network and server: a lognormal RTT with median
// 60 ms and p95 300 ms (σ = ln 5 / 1.645), 2% server errors (after a round
// trip), 20 ms of server compute, the real eta-server model answering.
type simNet struct {
	rng *rand.Rand

	mu    sync.Mutex
	sess  *engine.Session
	calls int
}

func (s *simNet) Post(ctx context.Context, req transport.Request, _ string, body []byte) (*transport.Response, error) {
	s.mu.Lock()
	s.calls++
	sigma := math.Log(float64(rttP95)/float64(rttMedian)) / 1.6448536269514722
	rtt := time.Duration(float64(rttMedian) * math.Exp(sigma*s.rng.NormFloat64()))
	fail := s.rng.Float64() < serverErrors
	s.mu.Unlock()
	wait := rtt + serverCompute
	if fail {
		wait = rtt
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if fail {
		return &transport.Response{Status: 500, Body: io.NopCloser(strings.NewReader(`{"error":"simulated"}`))}, nil
	}
	var ir router.InferRequest
	if err := json.Unmarshal(body, &ir); err != nil {
		return nil, err
	}
	in := map[string]*tensor.Tensor{}
	for k, w := range ir.Inputs {
		t, err := router.DecodeTensor(w)
		if err != nil {
			return nil, err
		}
		in[k] = t
	}
	s.mu.Lock()
	outs, err := s.sess.RunNamed(ctx, in)
	var resp router.InferResponse
	if err == nil {
		resp = router.InferResponse{Model: "eta-server", Version: "1.0.0", Outputs: map[string]router.WireTensor{}}
		for k, t := range outs {
			if resp.Outputs[k], err = router.EncodeTensor(t); err != nil {
				break
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(resp)
	return &transport.Response{Status: 200, Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// simLocal runs the real eta-small (with its deferral head) and takes the
// device profile's latency for it.
type simLocal struct {
	mu      sync.Mutex
	sess    *engine.Session
	latency time.Duration
}

func (l *simLocal) Run(ctx context.Context, in map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	l.mu.Lock()
	outs, err := l.sess.RunNamed(ctx, in)
	res := map[string]*tensor.Tensor{}
	for k, t := range outs {
		res[k] = t.Clone()
	}
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	time.Sleep(l.latency)
	return res, nil
}

// simHost is offline during the spells of its schedule.
type simHost struct {
	start   time.Time
	offline [][2]time.Duration // [from, to) since start
}

func (h *simHost) online(at time.Duration) bool {
	i := sort.Search(len(h.offline), func(i int) bool { return h.offline[i][1] > at })
	return i == len(h.offline) || at < h.offline[i][0]
}

func (h *simHost) State() router.HostState {
	return router.HostState{Online: h.online(time.Since(h.start)), Battery: 0.8}
}

// schedule draws request times (exponential gaps) and offline spells
// (exponential lengths, mean meanOffline, spaced so 5% of time is offline).
func schedule(n int, rng *rand.Rand) (at []time.Duration, off [][2]time.Duration) {
	var t time.Duration
	for range n {
		t += time.Duration(rng.ExpFloat64() * float64(meanGap))
		at = append(at, t)
	}
	meanOnline := time.Duration(float64(meanOffline) * (1 - offlineShare) / offlineShare)
	for s := time.Duration(0); s < t; {
		s += time.Duration(rng.ExpFloat64() * float64(meanOnline))
		e := s + time.Duration(rng.ExpFloat64()*float64(meanOffline))
		off = append(off, [2]time.Duration{s, e})
		s = e
	}
	return at, off
}

// simRun is one policy's run over the bench trips.
type simRun struct {
	name                     string
	answered, device, server int
	escalated, calls         int
	offline, offlineAnswered int
	offlineFromLast          int
	latencies                []time.Duration
	pred                     []float64
	truth                    []float32
	maeAll                   float64
	p50, p95, p99            time.Duration
	deviceShare, serverLoad  float64
	offlineShareOfRequests   float64
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)]
}

// simulate sends every bench trip through a router with policy p in a
// synctest bubble: the clock is virtual, so the latencies are the
// simulated network's and the device profile's, and the run takes no
// real time beyond the models' compute.
func simulate(t *testing.T, name string, p router.Policy, local router.Local, m *bundle.Manifest, srv *engine.Model, trips *etaTrips, bench []int, seed uint64) *simRun {
	run := &simRun{name: name}
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, 1))
		at, off := schedule(len(bench), rng)
		host := &simHost{start: time.Now(), offline: off}
		net := &simNet{sess: srv.NewSession(), rng: rand.New(rand.NewPCG(seed, 2))}
		rt := router.New(router.Config{ServerURL: "https://sim", Poster: net, Host: host, Rand: rng.Float64})
		dl := deadline - 10*time.Millisecond // the device's run comes first
		if p == router.ServerOnly {
			dl = time.Minute // always-server: no deadline
		}
		if err := rt.Register("eta", router.Model{Manifest: m, Local: local, Policy: p, Deadline: dl,
			Measure: router.Score, ConfidenceOutput: "confidence"}); err != nil {
			t.Fatal(err)
		}
		d := features.RouteFeatures
		for k, i := range bench {
			time.Sleep(at[k] - time.Since(host.start))
			online := host.online(time.Since(host.start))
			res, err := rt.Predict(context.Background(), "eta", map[string]*tensor.Tensor{
				"route":       tensor.From(append([]float32(nil), trips.route[i*d:(i+1)*d]...), 1, d),
				"free_flow_s": tensor.From([]float32{trips.freeFlow[i]}, 1),
			})
			if !online {
				run.offline++
			}
			if err != nil {
				continue
			}
			run.answered++
			run.latencies = append(run.latencies, res.Latency)
			run.pred = append(run.pred, float64(tensor.Data[float32](res.Outputs["eta_s"])[0]))
			run.truth = append(run.truth, trips.travel[i])
			switch res.Source {
			case router.SourceDevice:
				run.device++
			case router.SourceServer:
				run.server++
			}
			if res.Escalated {
				run.escalated++
			}
			if !online {
				run.offlineAnswered++
				if res.Source == router.SourceDevice && res.Version == m.Version {
					run.offlineFromLast++
				}
			}
		}
		run.calls = net.calls
	})
	n := float64(len(bench))
	run.maeAll = mae(run.pred, run.truth)
	run.p50, run.p95, run.p99 = quantile(run.latencies, 0.5), quantile(run.latencies, 0.95), quantile(run.latencies, 0.99)
	run.deviceShare, run.serverLoad = float64(run.device)/n, float64(run.calls)/n
	run.offlineShareOfRequests = float64(run.offline) / n
	return run
}

// deviceLatency is eta-small's median single-trip latency on this machine
// times the phone-mid profile's speed factor (the fleet simulator's
// latency model).
func deviceLatency(t *testing.T, m *engine.Model, trips *etaTrips) time.Duration {
	p, err := profile.Load("phone-mid")
	if err != nil {
		t.Fatal(err)
	}
	d := features.RouteFeatures
	sess := m.NewSession()
	in := map[string]*tensor.Tensor{"route": tensor.From(trips.route[:d], 1, d), "free_flow_s": tensor.From(trips.freeFlow[:1], 1)}
	var ds []time.Duration
	for range 300 {
		t0 := time.Now()
		if _, err := sess.RunNamed(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	return time.Duration(float64(quantile(ds, 0.5)) * p.SpeedFactor)
}

// TestETAHybridBar is issue 9's bar for the hybrid ETA model: the trained
// eta-small and eta-server (trained as bar.sh trains them, on a smaller
// population) answer held-out users' trips through the real router on a
// simulated network and clock. Run it with -v for the table
// (docs/benchmarks.md records it).
func TestETAHybridBar(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two models")
	}
	trips := heldOutETA(t, 200, 3)
	d := features.RouteFeatures
	// Held-out users split in two: even user IDs calibrate the deferral
	// head and the threshold, odd ones are the benchmark.
	var cal, bench []int
	for i, u := range trips.users {
		if u%2 == 0 {
			cal = append(cal, i)
		} else {
			bench = append(bench, i)
		}
	}
	pick := func(idx []int, v []float64) []float64 {
		out := make([]float64, len(idx))
		for k, i := range idx {
			out[k] = v[i]
		}
		return out
	}
	calRoute := make([]float32, 0, len(cal)*d)
	for _, i := range cal {
		calRoute = append(calRoute, trips.route[i*d:(i+1)*d]...)
	}
	head, err := FitDeferral(calRoute, d, pick(cal, trips.small), pick(cal, trips.big), 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	conf := make([]float64, len(cal))
	for k, i := range cal {
		conf[k] = head.Confidence(trips.route[i*d:(i+1)*d], trips.small[i])
	}
	threshold, err := eval.ThresholdForRate(conf, targetEscalation)
	if err != nil {
		t.Fatal(err)
	}

	g, err := trips.smallModel.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if err := head.AddTo(g); err != nil {
		t.Fatal(err)
	}
	man := &bundle.Manifest{Name: "eta-small", Version: "1.0.0", Signature: bundle.SignatureOf(g),
		Calibration:   &bundle.Calibration{CascadeThreshold: threshold},
		ServerVariant: &bundle.ServerVariant{Model: "eta-server", Inputs: []string{"route", "free_flow_s"}}}
	for i := range man.Signature.Inputs {
		man.Signature.Inputs[i].Privacy = bundle.Public // route features are not personal
	}
	man.Ops = bundle.OpsUsed(g)
	if err := man.Validate(g); err != nil {
		t.Fatal(err)
	}
	small, err := engine.Compile(g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := trips.bigModel.Graph()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := engine.Compile(sg, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The graph's head computes what FitDeferral's Confidence does.
	sess := small.NewSession()
	for _, i := range bench[:20] {
		out, err := sess.RunNamed(context.Background(), map[string]*tensor.Tensor{
			"route": tensor.From(trips.route[i*d:(i+1)*d], 1, d), "free_flow_s": tensor.From(trips.freeFlow[i:i+1], 1)})
		if err != nil {
			t.Fatal(err)
		}
		got, want := float64(tensor.Data[float32](out["confidence"])[0]), head.Confidence(trips.route[i*d:(i+1)*d], trips.small[i])
		if math.Abs(got-want) > 1e-4 {
			t.Fatalf("trip %d: graph confidence %v, Go %v", i, got, want)
		}
	}
	lat := deviceLatency(t, small, trips)
	local := &simLocal{sess: small.NewSession(), latency: lat}

	hybrid := simulate(t, "cascade", router.Cascade, local, man, srv, trips, bench, 7)
	always := simulate(t, "always-server", router.ServerOnly, nil, man, srv, trips, bench, 7)
	serverMAE := mae(pick(bench, trips.big), floatsAt(bench, trips.travel))
	smallMAE := mae(pick(bench, trips.small), floatsAt(bench, trips.travel))

	var b strings.Builder
	fmt.Fprintf(&b, "\nETA hybrid bar: %d bench trips (held-out users), %d calibration trips; device latency %v (phone-mid); threshold %.4f for %.0f%% escalation\n",
		len(bench), len(cal), lat, threshold, 100*targetEscalation)
	fmt.Fprintf(&b, "model MAE on all bench trips: eta-small %.2f s, eta-server %.2f s\n", smallMAE, serverMAE)
	fmt.Fprintf(&b, "%-14s %9s %8s %8s %9s %9s %9s %9s %8s %9s\n", "run", "answered", "device", "server", "escalated", "p50", "p95", "p99", "srv load", "MAE s")
	for _, r := range []*simRun{hybrid, always} {
		fmt.Fprintf(&b, "%-14s %8.1f%% %7.1f%% %7.1f%% %8.1f%% %9v %9v %9v %7.1f%% %9.2f\n", r.name,
			100*float64(r.answered)/float64(len(bench)), 100*r.deviceShare, 100*float64(r.server)/float64(len(bench)),
			100*float64(r.escalated)/float64(len(bench)), ms(r.p50), ms(r.p95), ms(r.p99), 100*r.serverLoad, r.maeAll)
	}
	// Ablation: the same escalation budget spent by other rules, on the
	// models' outputs alone (no network).
	budget := int(targetEscalation * float64(len(bench)))
	rule := func(score func(i int) float64) float64 {
		ord := append([]int(nil), bench...)
		sort.SliceStable(ord, func(a, c int) bool { return score(ord[a]) > score(ord[c]) })
		esc := map[int]bool{}
		for _, i := range ord[:budget] {
			esc[i] = true
		}
		var sum float64
		for _, i := range bench {
			p := trips.small[i]
			if esc[i] {
				p = trips.big[i]
			}
			sum += math.Abs(p - float64(trips.travel[i]))
		}
		return sum / float64(len(bench))
	}
	rr := rand.New(rand.NewPCG(9, 9))
	rnd := make([]float64, len(trips.small))
	for i := range rnd {
		rnd[i] = rr.Float64()
	}
	fmt.Fprintf(&b, "escalating %d trips (%.0f%%) by: deferral head %.2f s, longest free-flow %.2f s, random %.2f s, oracle disagreement %.2f s\n", budget, 100*targetEscalation,
		rule(func(i int) float64 { return -head.Confidence(trips.route[i*d:(i+1)*d], trips.small[i]) }),
		rule(func(i int) float64 { return float64(trips.freeFlow[i]) }),
		rule(func(i int) float64 { return rnd[i] }),
		rule(func(i int) float64 { return math.Abs(trips.small[i] - trips.big[i]) }))
	fmt.Fprintf(&b, "offline: %d requests (%.1f%%), %d answered, %d by the installed model on device\n",
		hybrid.offline, 100*hybrid.offlineShareOfRequests, hybrid.offlineAnswered, hybrid.offlineFromLast)
	t.Log(b.String())

	// The bar.
	if hybrid.answered != len(bench) {
		t.Errorf("router answered %d of %d", hybrid.answered, len(bench))
	}
	if hybrid.deviceShare < 0.85 {
		t.Errorf("device answered %.1f%%, bar ≥ 85%%", 100*hybrid.deviceShare)
	}
	if hybrid.maeAll > 1.03*serverMAE {
		t.Errorf("router MAE %.2f > 1.03 × always-server %.2f", hybrid.maeAll, serverMAE)
	}
	if hybrid.p95 > always.p95/2 {
		t.Errorf("router p95 %v > half of always-server p95 %v", hybrid.p95, always.p95)
	}
	if hybrid.p99 > deadline {
		t.Errorf("router p99 %v > deadline %v", hybrid.p99, deadline)
	}
	if hybrid.serverLoad > 0.05 {
		t.Errorf("escalation and hedging sent %.1f%% of requests to the server, bar ≤ 5%%", 100*hybrid.serverLoad)
	}
	if hybrid.offline == 0 || hybrid.offlineFromLast != hybrid.offline {
		t.Errorf("offline: %d of %d requests answered by the installed model", hybrid.offlineFromLast, hybrid.offline)
	}
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func floatsAt(idx []int, v []float32) []float32 {
	out := make([]float32, len(idx))
	for k, i := range idx {
		out[k] = v[i]
	}
	return out
}
