package sdk

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/profile"
	"github.com/sextant-ml/sextant/device/router"
	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/updater"
)

// Config configures Open. Its zero value works: models are read from
// the user's cache directory, there is no server, nothing is logged.
type Config struct {
	// Dir is where models and trusted metadata are kept; "" means
	// "sextant" under os.UserCacheDir (or os.TempDir when there is none).
	Dir string
	// FS is the file system the model store writes through; nil means the
	// operating system's.
	FS store.FS
	// StorageBytes bounds the bytes of models and partial downloads;
	// 0 means no bound.
	StorageBytes int64

	// ServerURL is the Sextant server's base URL; "" means no server: no
	// updates, and every answer comes from the device.
	ServerURL string
	// DeviceID and Credential are the device's enrolment answer; the
	// credential is sent as a bearer token with every server call.
	DeviceID, Credential string
	// ImageRoot and DirectorRoot are the trusted root metadata shipped with
	// the app (required with ServerURL unless Verifier is set).
	ImageRoot, DirectorRoot []byte
	// Transport is the host's network stack (required with a server). It
	// must also implement transport.Poster for check-ins and server
	// inference.
	Transport transport.Getter
	// Verifier, if set, replaces the Uptane verifier built from ServerURL
	// (tests, custom servers); BlobURL then maps a bundle's hex SHA-256 to
	// its URL (required with Verifier).
	Verifier updater.Verifier
	BlobURL  func(sha256 string) string

	// Policies chooses each model's routing policy by name; a model not
	// listed uses DefaultPolicy.
	Policies map[string]router.Policy
	// DefaultPolicy is the policy of unlisted models; the zero value is
	// router.OnDevice.
	DefaultPolicy router.Policy
	// Host reports battery, thermal state and network; nil means always
	// online and charging.
	Host router.Host
	// Profile and Network (a name in Profile.Networks) feed the
	// energy- and latency-aware policies; nil disables both.
	Profile *profile.Profile
	Network string
	// ArenaBytes bounds each model's engine arena; 0 means no bound.
	ArenaBytes int64

	// Device describes the device at check-in, for rollout targeting.
	Device updater.Device
	// Conditions reports the network and power state that large downloads
	// wait for; nil means always unmetered and charging.
	Conditions func() updater.Conditions
	// LargeBytes is the download size from which a download waits for an
	// unmetered network and a charger; 0 means 16 MiB.
	LargeBytes int64
	// CheckInterval separates successful check-ins; 0 means 6 h.
	CheckInterval time.Duration
	// Progress, if set, is called as downloads proceed, on the updating
	// goroutine; it must not block.
	Progress func(updater.Progress)
	// Exposure, if set, is called once per model version, the first time
	// this device serves a request with it (remembered across restarts in
	// Dir), on the goroutine of that Predict after it has returned its
	// locks; it must not block. Experiment analysis counts these events.
	Exposure func(Exposure)

	// Clock is the time source for check-ins, backoff and the router;
	// nil means clock.Real. Latency is always measured in real time.
	Clock clock.Clock
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// defaultInterval is the check-in interval when Config.CheckInterval is 0
// (the updater's own default).
const defaultInterval = 6 * time.Hour

// withDefaults returns c with its zero fields filled in.
func (c Config) withDefaults() Config {
	if c.Dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		c.Dir = filepath.Join(base, "sextant")
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = defaultInterval
	}
	return c
}

// hasServer reports whether c configures a server to update from.
func (c Config) hasServer() bool { return c.ServerURL != "" || c.Verifier != nil }

// policy returns the routing policy of model.
func (c Config) policy(model string) router.Policy {
	if p, ok := c.Policies[model]; ok {
		return p
	}
	return c.DefaultPolicy
}
