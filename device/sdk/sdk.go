package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/updater"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/tensor"
)

// Errors Predict wraps; test with errors.Is.
var (
	// ErrDownloading means the model is not on the device yet but the
	// server offers it: a download has been asked for in the background.
	ErrDownloading = errors.New("sdk: model is downloading")
	// ErrUnavailable means the model is neither installed nor offered.
	ErrUnavailable = errors.New("sdk: model unavailable")
	// ErrClosed means the SDK was closed.
	ErrClosed = errors.New("sdk: closed")
)

// Availability is whether a model can answer now.
type Availability int

// The availability states (see the package documentation).
const (
	Unavailable Availability = iota
	Downloadable
	Available
)

// String returns the state's name.
func (a Availability) String() string {
	switch a {
	case Available:
		return "available"
	case Downloadable:
		return "downloadable"
	case Unavailable:
		return "unavailable"
	}
	return fmt.Sprintf("Availability(%d)", int(a))
}

// Source says where an answer came from: router.SourceDevice, SourceServer
// or SourceCache.
type Source = router.Source

// Result is a Predict's answer.
type Result struct {
	// Outputs maps output names to tensors the caller owns.
	Outputs map[string]*tensor.Tensor
	// Source is where the answer came from.
	Source Source
	// Version is the version of the model that answered.
	Version string
	// Latency is Predict's wall time.
	Latency time.Duration
}

// SDK is the host app's handle. It is safe for concurrent use.
type SDK struct {
	cfg    Config
	log    *slog.Logger
	store  *store.Store
	router *router.Router

	// mu guards the fields below. Predict holds it for reading while it
	// runs, so a bundle is closed (on an update or Close) only after every
	// Predict using it has returned.
	mu      sync.RWMutex
	closed  bool
	models  map[string]*router.Installed // loaded models by name
	offered map[string]bool              // offered, compatible at the last check-in

	// drift holds each loaded model's training histograms of public
	// inputs (device/health), for input drift; guarded by mu.
	drift map[string]health.Histograms

	health *health.Recorder // health counters the check-ins carry
	sess   *sessions        // session marker and exposures (health.go)

	upd     *updater.Updater // nil without a server
	trigger chan struct{}    // asks the update loop for a check-in now
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Open opens the model store in cfg.Dir, loads every installed model and,
// when a server is configured, starts the background updater. ctx bounds
// Open itself; the updater runs until Close.
func Open(ctx context.Context, cfg Config) (*SDK, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st, err := store.Open(cfg.FS, cfg.Dir, cfg.StorageBytes)
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	s := &SDK{
		cfg:     cfg,
		log:     cfg.Logger,
		store:   st,
		models:  make(map[string]*router.Installed),
		offered: make(map[string]bool),
		drift:   make(map[string]health.Histograms),
		trigger: make(chan struct{}, 1),
		health:  health.NewRecorder(),
	}
	if s.sess, err = openSessions(cfg.Dir, s.health); err != nil {
		// Sessions and exposures are then counted in memory only.
		s.log.Warn("sdk: session marker not writable", "err", err)
		s.sess = &sessions{seen: map[string]bool{}, state: sessionState{Used: map[string]string{}}}
	}
	var header map[string]string
	if cfg.hasServer() {
		var uv *updater.UptaneVerifier
		if s.upd, uv, err = newUpdater(st, cfg, s.health); err != nil {
			return nil, err
		}
		if uv != nil {
			header = uv.Header()
		}
	}
	rc := router.Config{Clock: cfg.Clock, Host: cfg.Host, Profile: cfg.Profile, Network: cfg.Network, Header: header}
	if p, ok := cfg.Transport.(transport.Poster); ok && cfg.ServerURL != "" {
		rc.ServerURL, rc.Poster = cfg.ServerURL, p
	}
	s.router = router.New(rc)
	names, err := st.Models()
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	for _, name := range names {
		if err := s.load(name); err != nil {
			// A model that does not open stays unavailable; the others work.
			s.log.Warn("sdk: model does not load", "model", name, "err", err)
		}
	}
	if s.upd != nil {
		lctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.wg.Add(1)
		go s.updateLoop(lctx)
	}
	return s, nil
}

// load loads model's current version from the store and registers it,
// closing the version it replaces.
func (s *SDK) load(name string) error {
	in, err := router.Load(s.store, name, s.cfg.policy(name), engine.Options{MaxArenaBytes: s.cfg.ArenaBytes})
	if err != nil {
		if st, serr := s.store.State(name); serr == nil {
			s.health.Load(name, st.Current, true)
		}
		return err
	}
	version := in.Model.Manifest.Version
	if st, serr := s.store.State(name); serr == nil && st.Current != "" && st.Current != version {
		// The current version did not open; its last known good answers.
		s.health.Load(name, st.Current, true)
	}
	s.health.Load(name, version, false)
	s.health.Memory(name, version, memoryOf(in.Model))
	s.sess.use(name, version)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.Join(ErrClosed, in.Bundle.Close())
	}
	if err := s.router.Register(name, in.Model); err != nil {
		return errors.Join(err, in.Bundle.Close())
	}
	old := s.models[name]
	s.models[name] = in
	s.drift[name] = health.PublicHistograms(in.Model.Manifest)
	if old != nil {
		return closeBundle(old.Bundle)
	}
	return nil
}

func closeBundle(b *bundle.Bundle) error {
	if err := b.Close(); err != nil {
		return fmt.Errorf("sdk: closing bundle: %w", err)
	}
	return nil
}

// Availability reports whether model can answer now.
func (s *SDK) Availability(model string) Availability {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.availability(model)
}

// availability is Availability under s.mu.
func (s *SDK) availability(model string) Availability {
	if _, ok := s.models[model]; ok {
		return Available
	}
	if s.offered[model] {
		return Downloadable
	}
	return Unavailable
}

// Predict answers one request for model. A model that is not installed
// yields an error wrapping ErrDownloading (a download was asked for in the
// background; Predict does not wait for it) or ErrUnavailable.
//
// Every answer counts in the health report of the next check-in
// (inference, error, latency bucket, the drift of public inputs), and the
// first answer of each version emits Config.Exposure.
func (s *SDK) Predict(ctx context.Context, model string, inputs map[string]*tensor.Tensor) (*Result, error) {
	start := time.Now() // compute time is real time, never the Clock's
	var exp *Exposure
	defer func() {
		// After the lock below is released: the host may call back.
		if exp != nil {
			s.cfg.Exposure(*exp)
		}
	}()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	switch s.availability(model) {
	case Downloadable:
		s.checkInSoon()
		return nil, fmt.Errorf("%w: %q", ErrDownloading, model)
	case Unavailable:
		return nil, fmt.Errorf("%w: %q", ErrUnavailable, model)
	}
	r, err := s.router.Predict(ctx, model, inputs)
	latency := time.Since(start)
	loaded := s.models[model].Model.Manifest.Version
	if err != nil {
		if ctx.Err() == nil {
			s.health.Inference(model, loaded, latency, true)
		}
		return nil, fmt.Errorf("sdk: predict %q: %w", model, err)
	}
	s.health.Inference(model, r.Version, latency, false)
	if r.Version == loaded {
		s.health.ObserveInputs(model, loaded, s.drift[model], inputs)
	}
	exp = s.exposed(model, r.Version, r.Source)
	return &Result{Outputs: r.Outputs, Source: r.Source, Version: r.Version, Latency: latency}, nil
}

// checkInSoon asks the update loop for a check-in without waiting.
func (s *SDK) checkInSoon() {
	select {
	case s.trigger <- struct{}{}:
	default: // one is already pending
	}
}

// Close stops the background updater, waits for it and closes every model.
// Predicts in flight finish first; later ones return ErrClosed. Close is
// idempotent.
func (s *SDK) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if err := s.sess.close(); err != nil {
		errs = append(errs, err)
	}
	for name, in := range s.models {
		if err := in.Bundle.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sdk: closing %q: %w", name, err))
		}
		delete(s.models, name)
	}
	return errors.Join(errs...)
}
