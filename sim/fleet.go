package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/device/router"
	devstore "github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/store"
)

// Fleet is a simulated fleet under a caller's direction, for stories
// longer than Run's (the demo's): an in-process server on an embedded
// store and enrolled devices, each a real SDK instance (store, Uptane
// verifier, updater, router) in its own directory talking HTTP on
// loopback. The caller publishes models, moves them through rollouts with
// the admin API and tells devices when to check in and what to predict.
type Fleet struct {
	cfg     Config
	b       *backend
	hc      *http.Client
	devs    []*Device
	tmp     string
	stopMem func()
	peak    uint64

	mu     sync.Mutex
	models []string
}

// Device is one simulated phone of a Fleet. Its methods must be called from
// one goroutine at a time (Fleet.Each gives each device to one goroutine).
type Device struct{ d *device }

// FleetOption completes a fleet's server configuration before the server
// is built: the rollout controller, the telemetry streams. db is the
// server's store.
type FleetOption func(cfg *server.Config, db *store.DB) error

// StartFleet starts the server under cfg.Dir (a temporary directory when
// empty, removed by Close) and enrols cfg.Devices devices. Progress
// reports the phase "enroll".
func StartFleet(ctx context.Context, cfg Config, configure FleetOption) (_ *Fleet, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg}
	f.stopMem = sampleHeap(&f.peak)
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if cfg.Dir == "" {
		if f.tmp, err = os.MkdirTemp("", "sextant-fleet-"); err != nil {
			return nil, err
		}
		f.cfg.Dir = f.tmp
	}
	f.hc = newHTTPClient(cfg.Concurrency)
	if f.b, err = startBackend(ctx, filepath.Join(f.cfg.Dir, "server"), cfg.Clock, f.hc, cfg.Logger, configure); err != nil {
		return nil, err
	}
	units := make([]float64, cfg.Devices)
	pick := rand.New(rand.NewPCG(cfg.Seed, 0x5e7a))
	for i := range units {
		units[i] = pick.Float64()
	}
	f.devs = make([]*Device, cfg.Devices)
	var mu sync.Mutex
	var errs []error
	done := 0
	err = fleet(ctx, cfg.Concurrency, f.all(), func(i int) error {
		d, err := enroll(ctx, f.b, f.hc, cfg.Clock, filepath.Join(f.cfg.Dir, "devices", fmt.Sprint(i)), i, cfg.pick(units[i]), cfg.Seed)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		} else {
			f.devs[i] = &Device{d}
		}
		done++
		f.progress(Progress{Phase: "enroll", Done: done, Total: cfg.Devices})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sim: %d of %d devices failed to enrol: %w", len(errs), cfg.Devices, errors.Join(errs[:min(3, len(errs))]...))
	}
	return f, nil
}

func (f *Fleet) progress(p Progress) {
	if f.cfg.Progress != nil {
		f.cfg.Progress(p)
	}
}

func (f *Fleet) all() []int {
	idx := make([]int, f.cfg.Devices)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// URL is the server's base URL on loopback.
func (f *Fleet) URL() string { return f.b.url }

// HTTPClient is the client every device of the fleet shares: one
// transport, its idle pool bounded (a fleet of 10⁵ phones on loopback
// does not hold a connection each). Callers driving devices through other
// protocols (federated rounds) use it too.
func (f *Fleet) HTTPClient() *http.Client { return f.hc }

// Server is the in-process server.
func (f *Fleet) Server() *server.Server { return f.b.srv }

// Store is the server's store.
func (f *Fleet) Store() *store.DB { return f.b.db }

// Admin is an admin API client holding a token of the rollout scope
// (rollouts, current versions) and Publisher one of the publish scope.
func (f *Fleet) Admin() *server.Client     { return f.b.client(f.b.roll) }
func (f *Fleet) Publisher() *server.Client { return f.b.client(f.b.pub) }

// Devices is the fleet, by index.
func (f *Fleet) Devices() []*Device { return f.devs }

// PeakHeapBytes is the largest Go heap in use sampled so far (server and
// devices share the process).
func (f *Fleet) PeakHeapBytes() uint64 { return f.peak }

// DiskBytes is what the devices' directories hold now.
func (f *Fleet) DiskBytes() int64 { return dirBytes(filepath.Join(f.cfg.Dir, "devices")) }

// Publish uploads a bundle of model at version, signs it into the image
// repository with the operator's offline targets key and, if current,
// makes it the model's current version (otherwise a rollout serves it).
func (f *Fleet) Publish(ctx context.Context, model, version string, data []byte, current bool) error {
	f.mu.Lock()
	known := false
	for _, m := range f.models {
		known = known || m == model
	}
	if !known {
		f.models = append(f.models, model)
	}
	f.mu.Unlock()
	return f.b.publish(ctx, model, version, data, current)
}

// Each runs fn for the devices of idx (every device when idx is nil), at
// most Config.Concurrency at once, each device on one goroutine; it stops
// handing out devices when ctx ends. phase, when not empty, is reported to
// Progress as devices finish.
func (f *Fleet) Each(ctx context.Context, phase string, idx []int, fn func(*Device) error) error {
	if idx == nil {
		idx = f.all()
	}
	var mu sync.Mutex
	done := 0
	return fleet(ctx, f.cfg.Concurrency, idx, func(i int) error {
		err := fn(f.devs[i])
		if phase != "" {
			mu.Lock()
			done++
			f.progress(Progress{Phase: phase, Done: done, Total: len(idx)})
			mu.Unlock()
		}
		return err
	})
}

// Close stops the server and removes a temporary directory.
func (f *Fleet) Close() error {
	var err error
	if f.b != nil {
		err = f.b.stop()
		f.b = nil
	}
	if f.hc != nil {
		f.hc.CloseIdleConnections()
	}
	f.stopMem()
	if f.tmp != "" {
		err = errors.Join(err, os.RemoveAll(f.tmp))
	}
	return err
}

// Index is the device's position in the fleet (the seed of its RNG).
func (d *Device) Index() int { return d.d.index }

// ID is the device id the server enrolled it under.
func (d *Device) ID() string { return d.d.reg.ID }

// Profile is the device's class.
func (d *Device) Profile() *profile.Profile { return d.d.profile }

// Rand is the device's seeded source.
func (d *Device) Rand() *rand.Rand { return d.d.rng }

// CheckIn runs one real check-in (director and image metadata verified,
// targets downloaded, verified, self-tested and committed or rolled back)
// and records the installed version of each published model.
func (d *Device) CheckIn(ctx context.Context, f *Fleet) error {
	f.mu.Lock()
	models := append([]string(nil), f.models...)
	f.mu.Unlock()
	return d.d.checkIn(ctx, models...)
}

// Version is model's installed version after the last check-in ("" when
// none).
func (d *Device) Version(model string) string { return d.d.versions[model] }

// Installs and Failures count the device's install outcomes so far; Err
// is its last failure.
func (d *Device) Installs() int { return d.d.installs }
func (d *Device) Failures() int { return d.d.failures }
func (d *Device) Err() error    { return d.d.lastErr }

// Fetched is the bytes the device's updater has downloaded.
func (d *Device) Fetched() int64 { return d.d.up.Fetched() }

// Load opens model's installed version from the device's store, compiled
// within the profile's arena budget. The caller closes its Bundle.
func (d *Device) Load(model string, p router.Policy) (*router.Installed, error) {
	return router.Load(d.d.st, model, p, engine.Options{MaxArenaBytes: d.d.profile.ArenaBytes})
}

// Router returns a router for the device that reaches f's server with the
// device's credential (for server and hybrid policies); cfg's ServerURL,
// Poster and Header are filled in.
func (d *Device) Router(f *Fleet, cfg router.Config) *router.Router {
	cfg.ServerURL = f.b.url
	cfg.Poster = httptransport.New(f.hc)
	cfg.Header = map[string]string{"Authorization": "Bearer " + d.d.reg.Credential}
	if cfg.Profile == nil {
		cfg.Profile = d.d.profile
	}
	if cfg.Rand == nil {
		cfg.Rand = d.d.rng.Float64
	}
	return router.New(cfg)
}

// Health is the device's health recorder: what it records goes to the
// server with the next check-in.
func (d *Device) Health() *health.Recorder { return d.d.health }

// Store is the device's model store.
func (d *Device) Store() *devstore.Store { return d.d.st }

// Credential is the device's bearer credential for device API calls.
func (d *Device) Credential() string { return d.d.reg.Credential }
