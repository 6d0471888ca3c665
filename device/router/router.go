package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/tensor"
)

// Config wires a Router; zero values work (no server: every answer comes
// from the device).
type Config struct {
	// ServerURL is the API's base URL, e.g. "https://api.example.com";
	// empty means no server.
	ServerURL string
	// Poster sends inference requests (the host's network stack).
	Poster transport.Poster
	// Header is sent with every request (e.g. the device's Authorization).
	Header map[string]string
	// Clock is the time source (default clock.Real).
	Clock clock.Clock
	// Rand returns uniform numbers in [0, 1) for the breaker's jitter
	// (default math/rand/v2).
	Rand func() float64
	// Host reports battery, thermal state and network (default: always
	// online, charging).
	Host Host
	// Profile and Network (a name in Profile.Networks) feed the
	// energy-aware policy and the latency estimate before the first server
	// call; nil disables both (the device is chosen).
	Profile *profile.Profile
	Network string
	// Breaker tunes the circuit breaker.
	Breaker BreakerConfig
	// Alpha is the EWMA weight of a new latency sample (default 0.2).
	Alpha float64
	// MaxResponseBytes bounds a server answer (default 1 MiB).
	MaxResponseBytes int64
}

// Result is a Predict's answer.
type Result struct {
	Outputs map[string]*tensor.Tensor
	Source  Source
	// Version is the version of the model that answered.
	Version string
	// Latency is Predict's wall time.
	Latency time.Duration
	// Escalated is set when the cascade sent the request on after the
	// device answered below the threshold.
	Escalated bool
}

// Router routes Predict calls. It is safe for concurrent use.
type Router struct {
	cfg     Config
	clk     clock.Clock
	host    Host
	breaker *breaker
	network *profile.Network

	mu     sync.Mutex
	models map[string]*entry
}

// entry is a registered model with its measurements.
type entry struct {
	Model
	cache *answerCache

	mu               sync.Mutex
	deviceEWMA       time.Duration // 0 until measured
	serverEWMA       time.Duration
	lastUp, lastDown int64
}

// New returns a Router for cfg.
func New(cfg Config) *Router {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Host == nil {
		cfg.Host = alwaysOnline{}
	}
	if cfg.Alpha <= 0 || cfg.Alpha > 1 {
		cfg.Alpha = 0.2
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	r := &Router{cfg: cfg, clk: cfg.Clock, host: cfg.Host, models: map[string]*entry{},
		breaker: &breaker{cfg: cfg.Breaker.withDefaults(), rand: cfg.Rand}}
	if cfg.Profile != nil {
		if n, ok := cfg.Profile.Network(cfg.Network); ok {
			r.network = n
		}
	}
	return r
}

// Register sets (or replaces) a model's configuration.
func (r *Router) Register(name string, m Model) error {
	if m.Manifest == nil {
		return fmt.Errorf("router: model %q has no manifest", name)
	}
	if m.Deadline <= 0 {
		m.Deadline = 250 * time.Millisecond
	}
	if m.ConfidenceOutput == "" && len(m.Manifest.Signature.Outputs) > 0 {
		m.ConfidenceOutput = m.Manifest.Signature.Outputs[0].Name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.models[name] = &entry{Model: m, cache: newAnswerCache(m.CacheSize, m.CacheTTL)}
	return nil
}

// ErrUnknownModel is returned for a model never registered.
var ErrUnknownModel = errors.New("router: unknown model")

// ErrUnavailable is returned when neither the device nor the server can
// answer.
var ErrUnavailable = errors.New("router: no answer available")

// Predict answers one request under the model's policy.
func (r *Router) Predict(ctx context.Context, model string, inputs map[string]*tensor.Tensor) (Result, error) {
	start := r.clk.Now()
	r.mu.Lock()
	e := r.models[model]
	r.mu.Unlock()
	if e == nil {
		return Result{}, fmt.Errorf("%w %q", ErrUnknownModel, model)
	}
	var key [32]byte
	if e.cache != nil {
		key = cacheKey(inputs)
		if res, ok := e.cache.get(key, start); ok {
			res.Latency = r.clk.Now().Sub(start)
			return res, nil
		}
	}
	res, err := r.route(ctx, e, inputs)
	if err == nil && e.cache != nil {
		e.cache.put(key, res, r.clk.Now())
	}
	res.Latency = r.clk.Now().Sub(start)
	return res, err
}

func (r *Router) route(ctx context.Context, e *entry, inputs map[string]*tensor.Tensor) (Result, error) {
	st := r.host.State()
	// The server is reachable for this request only with a variant the
	// projection allows, a network and a configured client.
	var proj map[string]*tensor.Tensor
	var projErr error
	switch {
	case e.Policy == OnDevice:
		projErr = fmt.Errorf("%w: the policy is on-device only", ErrStayOnDevice)
	case r.cfg.ServerURL == "" || r.cfg.Poster == nil:
		projErr = errors.New("router: no server configured")
	case !st.Online:
		projErr = errors.New("router: offline")
	default:
		proj, projErr = Project(e.Manifest, inputs)
	}
	canServer := projErr == nil
	device := func() (Result, error) { return r.runDevice(ctx, e, inputs) }
	server := func() (Result, error) { return r.runServer(ctx, e, proj, e.Deadline) }

	switch p := r.choose(e, st, canServer); p {
	case OnDevice:
		res, err := device()
		if err != nil && e.Policy == ServerOnly {
			return res, fmt.Errorf("%w: server-only model: %w", ErrUnavailable, projErr)
		}
		return res, err
	case PreferDevice:
		res, err := device()
		if err != nil && canServer {
			return server()
		}
		return res, err
	case ServerOnly:
		return server()
	case PreferServer:
		res, err := server()
		if err != nil && e.Local != nil {
			return device()
		}
		return res, err
	case Cascade:
		res, err := device()
		if err != nil {
			return server()
		}
		if r.confident(e, res) {
			return res, nil
		}
		if sres, serr := server(); serr == nil {
			sres.Escalated = true
			return sres, nil
		}
		return res, nil
	case Race:
		return r.race(ctx, e, inputs, proj)
	default:
		return Result{}, fmt.Errorf("router: policy %v", p)
	}
}

// choose resolves the model's policy into one of OnDevice, PreferDevice,
// PreferServer, ServerOnly, Cascade or Race for this request.
func (r *Router) choose(e *entry, st HostState, canServer bool) Policy {
	if !canServer {
		return OnDevice
	}
	if e.Local == nil {
		return ServerOnly
	}
	switch e.Policy {
	case LatencyAware, EnergyAware:
		if st.Thermal >= ThermalSerious {
			// A throttled phone is slow and hot: let the server answer.
			return PreferServer
		}
		e.mu.Lock()
		dev, srv, up, down := e.deviceEWMA, e.serverEWMA, e.lastUp, e.lastDown
		e.mu.Unlock()
		if dev == 0 {
			return OnDevice // measure the device first
		}
		if e.Policy == EnergyAware && !st.Charging {
			if r.network == nil || r.cfg.Profile == nil {
				return OnDevice
			}
			if r.network.RadioEnergy(up, down) < r.cfg.Profile.InferenceEnergy(dev, e.WeightBytes) {
				return PreferServer
			}
			return PreferDevice
		}
		if srv == 0 {
			if r.network == nil {
				return PreferDevice
			}
			srv = r.network.TransferTime(up, down)
		}
		if srv < dev {
			return PreferServer
		}
		return PreferDevice
	}
	return e.Policy
}

// confident reports whether the device answer clears the manifest's cascade
// threshold. An answer whose confidence cannot be computed is escalated.
func (r *Router) confident(e *entry, res Result) bool {
	cal := e.Manifest.Calibration
	if cal == nil {
		return true // no threshold: never escalate
	}
	out, ok := res.Outputs[e.ConfidenceOutput]
	if !ok {
		return false
	}
	c, err := Confidence(out, cal.Temperature, e.Measure)
	return err == nil && c >= cal.CascadeThreshold
}

func (r *Router) runDevice(ctx context.Context, e *entry, inputs map[string]*tensor.Tensor) (Result, error) {
	if e.Local == nil {
		return Result{}, fmt.Errorf("%w: no model installed on device", ErrUnavailable)
	}
	t0 := r.clk.Now()
	out, err := e.Local.Run(ctx, inputs)
	if err != nil {
		return Result{}, fmt.Errorf("router: on device: %w", err)
	}
	d := r.clk.Now().Sub(t0)
	e.mu.Lock()
	e.deviceEWMA = ewma(e.deviceEWMA, d, r.cfg.Alpha)
	e.mu.Unlock()
	return Result{Outputs: out, Source: SourceDevice, Version: e.Manifest.Version}, nil
}

func ewma(old, sample time.Duration, alpha float64) time.Duration {
	if old == 0 {
		return sample
	}
	return time.Duration(alpha*float64(sample) + (1-alpha)*float64(old))
}

// ServerError is a server answer other than 200.
type ServerError struct {
	Status int
	Body   string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("router: server answered %d: %s", e.Status, e.Body)
}

// withDeadline is context.WithTimeout on the router's clock.
func (r *Router) withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-r.clk.After(d):
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// runServer sends the projected inputs to the server variant, within d.
func (r *Router) runServer(ctx context.Context, e *entry, proj map[string]*tensor.Tensor, d time.Duration) (Result, error) {
	if proj == nil {
		return Result{}, fmt.Errorf("%w: nothing may be sent", ErrStayOnDevice)
	}
	now := r.clk.Now()
	if !r.breaker.allow(now) {
		return Result{}, fmt.Errorf("%w: the server circuit breaker is open", ErrUnavailable)
	}
	res, up, down, err := r.post(ctx, e, proj, d)
	end := r.clk.Now()
	var se *ServerError
	failed := err != nil && (!errors.As(err, &se) || se.Status >= 500 || se.Status == transport.StatusTooManyRequests)
	r.breaker.done(end, !failed)
	if err != nil {
		return Result{}, err
	}
	e.mu.Lock()
	e.serverEWMA = ewma(e.serverEWMA, end.Sub(now), r.cfg.Alpha)
	e.lastUp, e.lastDown = up, down
	e.mu.Unlock()
	return res, nil
}

func (r *Router) post(ctx context.Context, e *entry, proj map[string]*tensor.Tensor, d time.Duration) (Result, int64, int64, error) {
	req := InferRequest{Version: e.Manifest.ServerVariant.Version, Inputs: make(map[string]WireTensor, len(proj))}
	for name, t := range proj {
		w, err := EncodeTensor(t)
		if err != nil {
			return Result{}, 0, 0, err
		}
		req.Inputs[name] = w
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, 0, 0, fmt.Errorf("router: encode request: %w", err)
	}
	ctx, cancel := r.withDeadline(ctx, d)
	defer cancel()
	resp, err := r.cfg.Poster.Post(ctx, transport.Request{URL: r.cfg.ServerURL + InferPath + e.Manifest.ServerVariant.Model, Header: r.cfg.Header}, ContentType, body)
	if err != nil {
		return Result{}, 0, 0, fmt.Errorf("router: server: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxResponseBytes+1))
	if err != nil {
		return Result{}, 0, 0, fmt.Errorf("router: server: %w", err)
	}
	if resp.Status != transport.StatusOK {
		return Result{}, 0, 0, &ServerError{Status: resp.Status, Body: string(data[:min(len(data), 200)])}
	}
	if int64(len(data)) > r.cfg.MaxResponseBytes {
		return Result{}, 0, 0, fmt.Errorf("router: server answer exceeds %d bytes", r.cfg.MaxResponseBytes)
	}
	var ir InferResponse
	if err := json.Unmarshal(data, &ir); err != nil {
		return Result{}, 0, 0, fmt.Errorf("router: server answer: %w", err)
	}
	outs := make(map[string]*tensor.Tensor, len(ir.Outputs))
	for name, w := range ir.Outputs {
		t, err := DecodeTensor(w)
		if err != nil {
			return Result{}, 0, 0, fmt.Errorf("router: server output %q: %w", name, err)
		}
		outs[name] = t
	}
	return Result{Outputs: outs, Source: SourceServer, Version: ir.Version}, int64(len(body)), int64(len(data)), nil
}

// race starts the device and the server together and returns the server
// answer if it arrives before the deadline, else the device answer (Dean &
// Barroso, "The Tail at Scale", CACM 2013, hedged requests).
func (r *Router) race(ctx context.Context, e *entry, inputs, proj map[string]*tensor.Tensor) (Result, error) {
	type answer struct {
		res Result
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	devc, srvc := make(chan answer, 1), make(chan answer, 1)
	go func() {
		res, err := r.runDevice(ctx, e, inputs)
		devc <- answer{res, err}
	}()
	go func() {
		res, err := r.runServer(ctx, e, proj, e.Deadline)
		srvc <- answer{res, err}
	}()
	deadline := r.clk.After(e.Deadline)
	var dev *answer
	for {
		select {
		case a := <-srvc:
			if a.err == nil {
				return a.res, nil
			}
			srvc = nil
			if dev != nil {
				return dev.res, dev.err
			}
		case a := <-devc:
			devc = nil
			dev = &a
			if srvc == nil || (a.err == nil && deadline == nil) {
				return a.res, a.err
			}
		case <-deadline:
			deadline = nil
			if dev != nil {
				return dev.res, dev.err
			}
			// Past the deadline, the first good answer wins.
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
}
