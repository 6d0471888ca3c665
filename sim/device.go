package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/device/router"
	devstore "github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/device/updater"
	"github.com/sextant-ml/sextant/device/verify"
	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/server"
	"github.com/sextant-ml/sextant/tensor"
)

// device is one simulated phone: a real SDK store, updater and router in
// its own directory. Its methods are called from one goroutine at a time.
type device struct {
	index   int
	dir     string
	profile *profile.Profile
	rng     *rand.Rand
	reg     server.Registration
	st      *devstore.Store
	up      *updater.Updater
	// versions is each model's installed version after the last check-in.
	versions map[string]string
	// installs and failures count check-in outcomes.
	installs, failures int
	lastErr            error
	// latencies are the modelled on-device latencies of its predictions.
	latencies []time.Duration
	predFails int
	// health records the device's health; each check-in carries what was
	// recorded since the last one.
	health *health.Recorder
}

// enroll registers the device with the server and builds its SDK instance.
func enroll(ctx context.Context, b *backend, hc *http.Client, clk clock.Clock, dir string, index int, p *profile.Profile, seed uint64) (*device, error) {
	d := &device{index: index, dir: dir, profile: p, rng: rand.New(rand.NewPCG(seed, uint64(index))), versions: map[string]string{},
		health: health.NewRecorder()}
	info := server.DeviceInfo{Class: p.Class, OS: "android 14", Region: "CH", Locale: "de-CH",
		Attributes: map[string]string{"profile": p.Name}}
	var err error
	if d.reg, err = b.client(b.enroll).Register(ctx, info); err != nil {
		return nil, fmt.Errorf("device %d: register: %w", index, err)
	}
	if d.st, err = devstore.Open(nil, filepath.Join(dir, "models"), p.StorageBytes); err != nil {
		return nil, fmt.Errorf("device %d: store: %w", index, err)
	}
	tr := httptransport.New(hc)
	v, err := updater.NewUptaneVerifier(updater.UptaneConfig{ServerURL: b.url, DeviceID: d.reg.ID, Credential: d.reg.Credential,
		ImageRoot: b.imgRoot, DirectorRoot: b.dirRoot, Store: verify.DirStore{Dir: filepath.Join(dir, "trust")}, Transport: tr, Clock: clk})
	if err != nil {
		return nil, fmt.Errorf("device %d: verifier: %w", index, err)
	}
	d.up, err = updater.New(d.st, updater.Config{Verifier: v, Transport: tr, BlobURL: v.BlobURL, Clock: clk,
		Rand: d.rng.Float64, RequireGolden: true, ArenaBytes: p.ArenaBytes, Health: d.health,
		Device: updater.Device{Class: info.Class, OS: info.OS, Region: info.Region, Locale: info.Locale, Attributes: info.Attributes}})
	if err != nil {
		return nil, fmt.Errorf("device %d: updater: %w", index, err)
	}
	return d, nil
}

// checkIn runs one real check-in and records its outcomes and the
// installed version of each of models.
func (d *device) checkIn(ctx context.Context, models ...string) error {
	rep, err := d.up.CheckIn(ctx)
	var outcomes []updater.Outcome
	if rep != nil {
		outcomes = rep.Outcomes
	}
	for _, o := range outcomes {
		switch {
		case o.Installed:
			d.installs++
		case o.UpToDate:
		default:
			d.failures++
			d.lastErr = o.Err
		}
	}
	if err != nil && len(outcomes) == 0 {
		d.failures++
		d.lastErr = err
	}
	for _, m := range models {
		s, serr := d.st.State(m)
		if serr != nil {
			return errors.Join(err, serr)
		}
		d.versions[m] = s.Current
	}
	return err
}

// predict loads the installed model into a router with the on-device
// policy and runs n predictions on inputs perturbed from template. Each
// latency recorded is the host's measured Predict latency × the profile's
// SpeedFactor.
func (d *device) predict(ctx context.Context, n int, template map[string]*tensor.Tensor) error {
	inst, err := router.Load(d.st, ModelName, router.OnDevice, engine.Options{MaxArenaBytes: d.profile.ArenaBytes})
	if err != nil {
		d.predFails += n
		return fmt.Errorf("device %d: load: %w", d.index, err)
	}
	defer inst.Bundle.Close()
	r := router.New(router.Config{Clock: clock.Real, Profile: d.profile, Rand: d.rng.Float64})
	if err := r.Register(ModelName, inst.Model); err != nil {
		d.predFails += n
		return fmt.Errorf("device %d: register model: %w", d.index, err)
	}
	var firstErr error
	for range n {
		in := make(map[string]*tensor.Tensor, len(template))
		for name, t := range template {
			c := t.Clone()
			if c.DType == tensor.Float32 {
				for i := range tensor.Data[float32](c) {
					tensor.Data[float32](c)[i] += float32(d.rng.NormFloat64() * 0.1)
				}
			}
			in[name] = c
		}
		res, err := r.Predict(ctx, ModelName, in)
		if err == nil && res.Source != router.SourceDevice {
			err = fmt.Errorf("answered by %s under the on-device policy", res.Source)
		}
		if err != nil {
			d.predFails++
			if firstErr == nil {
				firstErr = fmt.Errorf("device %d: predict: %w", d.index, err)
			}
			continue
		}
		d.latencies = append(d.latencies, time.Duration(float64(res.Latency)*d.profile.SpeedFactor))
	}
	return firstErr
}
