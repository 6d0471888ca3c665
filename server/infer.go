package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

// maxInferBody bounds an inference request body.
const maxInferBody = 1 << 20

// maxInferBundle bounds a bundle the inference endpoint loads into memory.
const maxInferBundle = 512 << 20

// inferCacheSize is how many compiled model versions the endpoint keeps.
const inferCacheSize = 8

// inferer serves POST /v1/infer/{model}: stateless inference with the
// model's current version (or the version the request names), inputs
// checked against the manifest, rate-limited per device. It logs nothing
// about a request; it counts requests by model and outcome.
type inferer struct {
	s        *Server
	requests *prometheus.CounterVec

	mu    sync.Mutex
	cache map[string]*inferModel // by bundle SHA-256
	order []string               // insertion order, for eviction
}

// inferModel is a compiled version; sessions are pooled because a Session
// is not safe for concurrent use.
type inferModel struct {
	manifest *bundle.Manifest
	model    *engine.Model
	bundle   *bundle.Bundle
	sessions sync.Pool
}

func newInferer(s *Server) *inferer {
	in := &inferer{s: s, cache: map[string]*inferModel{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sextant_infer_requests_total",
			Help: "Server inference requests by outcome (ok, invalid, rate_limited, error).",
		}, []string{"outcome"})}
	if err := s.cfg.Registry.Register(in.requests); err != nil {
		s.log.Warn("infer metrics not registered", "err", err)
	}
	return in
}

func (in *inferer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := in.serve(w, r)
	outcome := "ok"
	if err != nil {
		code, _ := codeOf(err)
		switch code {
		case "invalid", codeTooLarge, "not_found":
			outcome = "invalid"
		case codeRateLimited:
			outcome = "rate_limited"
		case "unauthorized", "forbidden":
			outcome = "unauthorized"
		default:
			outcome = "error"
		}
		in.s.writeError(w, r, err)
	}
	in.requests.WithLabelValues(outcome).Inc()
	if err == nil {
		in.s.fleet.inferences.Add(1) // the console's server share
	}
}

// authDevice authenticates a device credential (any enrolled device may
// ask for inference) and applies the per-device inference rate limit
// (Config.InferRate), which is separate from the limit on the device's
// check-ins and reports.
func (in *inferer) authDevice(r *http.Request) error {
	d, err := in.s.credentialDevice(r)
	if err != nil {
		return err
	}
	if ok, wait := in.s.inferLimit.allow(d.id); !ok {
		return rateLimited(wait)
	}
	return nil
}

func (in *inferer) serve(w http.ResponseWriter, r *http.Request) error {
	if err := in.authDevice(r); err != nil {
		return err
	}
	var req router.InferRequest
	if err := readJSON(w, r, maxInferBody, &req); err != nil {
		return err
	}
	name := r.PathValue("model")
	m, version, err := in.load(r.Context(), name, req.Version)
	if err != nil {
		return err
	}
	inputs, err := checkInputs(m.manifest, req.Inputs)
	if err != nil {
		return err
	}
	sess, _ := m.sessions.Get().(*engine.Session)
	if sess == nil {
		sess = m.model.NewSession()
	}
	resp, err := runEncoded(r.Context(), sess, inputs)
	// The outputs belong to the session until its next run: they are
	// encoded before it goes back to the pool.
	m.sessions.Put(sess)
	if err != nil {
		return fmt.Errorf("server: infer %s@%s: %w", name, version, err)
	}
	resp.Model, resp.Version = name, version
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// runEncoded runs sess and encodes its outputs for the wire.
func runEncoded(ctx context.Context, sess *engine.Session, inputs map[string]*tensor.Tensor) (router.InferResponse, error) {
	outs, err := sess.RunNamed(ctx, inputs)
	if err != nil {
		return router.InferResponse{}, err
	}
	resp := router.InferResponse{Outputs: make(map[string]router.WireTensor, len(outs))}
	for k, t := range outs {
		wt, err := router.EncodeTensor(t)
		if err != nil {
			return router.InferResponse{}, fmt.Errorf("output %q: %w", k, err)
		}
		resp.Outputs[k] = wt
	}
	return resp, nil
}

// checkInputs decodes the request's tensors and checks them against the
// manifest's signature: every input present, no others, dtype and rank
// equal, fixed dimensions equal.
func checkInputs(m *bundle.Manifest, got map[string]router.WireTensor) (map[string]*tensor.Tensor, error) {
	out := make(map[string]*tensor.Tensor, len(got))
	for _, in := range m.Signature.Inputs {
		wt, ok := got[in.Name]
		if !ok {
			return nil, delivery.Errorf(delivery.ErrInvalid, "input %q is missing", in.Name)
		}
		if in.Privacy == bundle.Private {
			return nil, delivery.Errorf(delivery.ErrInvalid, "input %q is private to the device and may not be sent", in.Name)
		}
		if wt.DType != in.DType {
			return nil, delivery.Errorf(delivery.ErrInvalid, "input %q: dtype %s, want %s", in.Name, wt.DType, in.DType)
		}
		if len(wt.Shape) != len(in.Shape) {
			return nil, delivery.Errorf(delivery.ErrInvalid, "input %q: rank %d, want %d", in.Name, len(wt.Shape), len(in.Shape))
		}
		for i, d := range in.Shape {
			if (d.Size >= 0 && int64(wt.Shape[i]) != d.Size) || wt.Shape[i] < 1 {
				return nil, delivery.Errorf(delivery.ErrInvalid, "input %q: shape %v, want %v", in.Name, wt.Shape, in.Shape)
			}
		}
		t, err := router.DecodeTensor(wt)
		if err != nil {
			return nil, delivery.Errorf(delivery.ErrInvalid, "input %q: %v", in.Name, err)
		}
		out[in.Name] = t
	}
	if len(got) != len(out) {
		for k := range got {
			if _, ok := out[k]; !ok {
				return nil, delivery.Errorf(delivery.ErrInvalid, "input %q is not in the model's signature", k)
			}
		}
	}
	return out, nil
}

// load returns the compiled version of model (its current one when
// version is empty), from the cache or the blob store.
func (in *inferer) load(ctx context.Context, model, version string) (*inferModel, string, error) {
	s := in.s
	if version == "" {
		md, err := s.store.GetModel(ctx, model)
		if err != nil {
			return nil, "", err
		}
		if md.Current == "" {
			return nil, "", delivery.Errorf(delivery.ErrNotFound, "model %q has no current version", model)
		}
		version = md.Current
	}
	v, err := s.store.GetVersion(ctx, model, version)
	if err != nil {
		return nil, "", err
	}
	in.mu.Lock()
	m := in.cache[v.SHA256]
	in.mu.Unlock()
	if m != nil {
		return m, version, nil
	}
	rd, _, err := s.blobs.Open(ctx, v.SHA256)
	if err != nil {
		return nil, "", err
	}
	data, err := io.ReadAll(io.LimitReader(rd, maxInferBundle+1))
	rd.Close()
	if err != nil {
		return nil, "", fmt.Errorf("server: read bundle %s@%s: %w", model, version, err)
	}
	if len(data) > maxInferBundle {
		return nil, "", fmt.Errorf("server: bundle %s@%s exceeds %d bytes", model, version, maxInferBundle)
	}
	b, err := bundle.OpenBytes(data)
	if err != nil {
		return nil, "", fmt.Errorf("server: open bundle %s@%s: %w", model, version, err)
	}
	man := b.Manifest
	cm, err := engine.Compile(b.Graph, engine.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("server: compile %s@%s: %w", model, version, err)
	}
	m = &inferModel{manifest: man, model: cm, bundle: b}
	in.mu.Lock()
	defer in.mu.Unlock()
	if cur := in.cache[v.SHA256]; cur != nil {
		return cur, version, nil
	}
	if len(in.order) >= inferCacheSize {
		// Evicted models stay valid for requests holding them: their bundle
		// is in memory, not mapped, and is left to the collector.
		delete(in.cache, in.order[0])
		in.order = in.order[1:]
	}
	in.cache[v.SHA256] = m
	in.order = append(in.order, v.SHA256)
	return m, version, nil
}
