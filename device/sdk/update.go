package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/updater"
	"github.com/sextant-ml/sextant/device/verify"
)

// newUpdater builds the updater for cfg, which configures a server, and the
// Uptane verifier it made (nil when cfg.Verifier was given).
// Its check-ins carry rec's health reports.
func newUpdater(st *store.Store, cfg Config, rec *health.Recorder) (*updater.Updater, *updater.UptaneVerifier, error) {
	if cfg.Transport == nil {
		return nil, nil, errors.New("sdk: a server needs Config.Transport")
	}
	v, blobURL := cfg.Verifier, cfg.BlobURL
	var uv *updater.UptaneVerifier
	if v == nil {
		trust := filepath.Join(cfg.Dir, "trust")
		if err := os.MkdirAll(trust, 0o755); err != nil {
			return nil, nil, fmt.Errorf("sdk: %w", err)
		}
		var err error
		uv, err = updater.NewUptaneVerifier(updater.UptaneConfig{
			ServerURL: cfg.ServerURL, DeviceID: cfg.DeviceID, Credential: cfg.Credential,
			ImageRoot: cfg.ImageRoot, DirectorRoot: cfg.DirectorRoot,
			Store: verify.DirStore{Dir: trust}, Transport: cfg.Transport, Clock: cfg.Clock,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("sdk: %w", err)
		}
		v = uv
		if blobURL == nil {
			blobURL = uv.BlobURL
		}
	}
	if blobURL == nil {
		return nil, nil, errors.New("sdk: Config.Verifier needs Config.BlobURL")
	}
	u, err := updater.New(st, updater.Config{
		Verifier: v, Transport: cfg.Transport, BlobURL: blobURL, Clock: cfg.Clock,
		Device: cfg.Device, Conditions: cfg.Conditions, LargeBytes: cfg.LargeBytes, Interval: cfg.CheckInterval,
		ArenaBytes: cfg.ArenaBytes, Progress: cfg.Progress, Logger: cfg.Logger, Health: rec,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sdk: %w", err)
	}
	return u, uv, nil
}

// updateLoop checks in at once, then every CheckInterval, backing off after
// failures, and at once when Predict asks for a download; it returns when
// ctx ends. It is the only goroutine that calls the updater.
func (s *SDK) updateLoop(ctx context.Context) {
	defer s.wg.Done()
	failures := 0
	for {
		rep, err := s.upd.CheckIn(ctx)
		if ctx.Err() != nil {
			return
		}
		s.apply(rep)
		wait := s.cfg.CheckInterval
		if err != nil {
			failures++
			wait = s.upd.Backoff(failures)
			s.log.Info("sdk: check-in failed", "err", err, "retry_in", wait)
		} else {
			failures = 0
		}
		if !s.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits for d on the clock or for a check-in request; it reports false
// when ctx ended.
func (s *SDK) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s.trigger:
		return true
	case <-s.cfg.Clock.After(d):
		return true
	}
}

// apply records what a check-in offered and loads newly committed versions.
func (s *SDK) apply(rep *updater.Report) {
	if rep == nil {
		return
	}
	offered := make(map[string]bool, len(rep.Outcomes))
	for _, o := range rep.Outcomes {
		name := o.Target.Name
		var inc *updater.IncompatibleError
		if !errors.As(o.Err, &inc) {
			offered[name] = true
		}
		if !o.Installed {
			s.mu.RLock()
			_, loaded := s.models[name]
			s.mu.RUnlock()
			if loaded || !o.UpToDate {
				continue
			}
			// Up to date but not loaded (it failed to load at Open, or a
			// crash left it committed): try again.
		}
		if err := s.load(name); err != nil {
			s.log.Warn("sdk: new version does not load", "model", name, "version", o.Target.Version, "err", err)
		}
	}
	s.mu.Lock()
	s.offered = offered
	s.mu.Unlock()
}
