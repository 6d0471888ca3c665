// Package updater keeps a device's models current: it checks in with the
// device's manifest, gets the targets both signed repositories vouch for,
// downloads each new bundle resumably (or a delta against the installed
// one), verifies its length and SHA-256 while streaming, installs it into
// the store, loads it, runs the golden-input self-test from its manifest,
// and only then makes it current. A failure at any step leaves the current
// version (and the last known good) in place, and a process killed at any
// point leaves a loadable, verified model.
//
// # Pipeline
//
//	check-in → compatible? → conditions met? → reserve space →
//	download to downloads/NAME@VERSION.part (resumable, hashed as it streams)
//	  or delta: download, verify, decode against the current bundle →
//	verify length and SHA-256 → fsync → rename into the store → fsync dir →
//	load (mmap + compile) → self-test → commit (switch current), else reject.
//
// # Resumption
//
// Every CheckpointBytes (512 KiB by default) the .part file is synced and a
// fixed-size sidecar (.part.json: URL, ETag, offset, length, hash) is
// rewritten in one write and synced, so a crash loses at most one
// checkpoint interval of download. On resume the updater re-hashes the
// durable prefix of the .part from disk (local reads are cheap next to the
// network, and no hash state needs serializing), truncates what follows,
// and asks for the rest with Range and If-Range; a 200 (the file changed)
// restarts cleanly from byte 0.
//
// # Memory
//
// A full download holds one copy buffer (CopyBufferBytes, 256 KiB by
// default) and a hash state; bundles are opened by mmap. A delta decode
// holds the zstd window (about the base size plus a quarter of the target)
// in memory, which is why deltas are offered only up to 64 MiB.
package updater

import (
	"context"
	"log/slog"
	"time"

	"github.com/sextant-ml/sextant/clock"

	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels"
)

// RuntimeVersion is this Sextant runtime's version, sent at check-in and
// compared with a bundle's min_runtime_version.
const RuntimeVersion = "0.1.0"

// Target is one bundle a device should run, as verified by the signed
// metadata: the image repository and the director agree on its length and
// hash.
type Target struct {
	// Name is the model name (the bundle manifest's name).
	Name string
	// Version is the bundle's semantic version.
	Version string
	// Length is the bundle's exact size in bytes.
	Length int64
	// SHA256 is the hex SHA-256 of the whole bundle file.
	SHA256 string
	// MinRuntimeVersion and Ops come from the target's custom metadata
	// (they mirror the bundle manifest).
	MinRuntimeVersion string
	Ops               []string
	// Deltas lists verified delta files from older versions.
	Deltas []Delta
}

// Delta is a zstd delta (package delta) producing a target from an older
// version of the same model.
type Delta struct {
	// From is the version the delta applies to.
	From string
	// Length and SHA256 describe the delta file itself.
	Length int64
	SHA256 string
}

// Verifier yields the verified targets for this device. An implementation
// sends the device manifest with its check-in (the director picks versions
// from it), verifies the director's and the image repository's metadata,
// and returns only targets both agree on. Its errors should wrap ErrExpired
// for expired metadata (or implement Expired() bool) and be *NetworkError
// (or net errors) for transport failures; any other error counts as a
// verification failure.
type Verifier interface {
	Targets(ctx context.Context, m *Manifest) ([]Target, error)
}

// Manifest is what a device tells the director at check-in.
type Manifest struct {
	// Installed maps each model to its current version.
	Installed map[string]string `json:"installed"`
	// RuntimeVersion and Ops say what bundles the device can run.
	RuntimeVersion string   `json:"runtime_version"`
	Ops            []string `json:"ops"`
	Device
	// Health is the device's health since its last check-in, taken from
	// Config.Health. A Verifier that delivered it sets it to nil (the
	// check-in reached the server); the Updater returns an undelivered
	// report to its source so the next check-in sends it.
	Health *health.Report `json:"health,omitempty"`
}

// HealthSource supplies the health report each check-in carries;
// *device/health.Recorder implements it.
type HealthSource interface {
	// Take returns what was recorded since the last Take (nil: nothing).
	Take() *health.Report
	// Return merges back a report that was not delivered.
	Return(*health.Report)
}

// Device describes the device for rollout targeting.
type Device struct {
	Class      string            `json:"device_class,omitempty"`
	OS         string            `json:"os,omitempty"`
	AppVersion string            `json:"app_version,omitempty"`
	Region     string            `json:"region,omitempty"`
	Locale     string            `json:"locale,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Runtime says what this runtime can run.
type Runtime struct {
	Version string
	// Ops lists the operators the runtime has kernels for.
	Ops []string
}

// ThisRuntime describes the linked runtime: RuntimeVersion and every
// operator with both a schema and a kernel.
func ThisRuntime() Runtime {
	var ops []string
	for _, op := range graph.SupportedOps() {
		if kernels.Has(op) {
			ops = append(ops, op)
		}
	}
	return Runtime{Version: RuntimeVersion, Ops: ops}
}

// Conditions are the device's current state for download policy.
type Conditions struct {
	Unmetered bool // on a network the user does not pay per byte for
	Charging  bool
}

// Phase is a step of an update.
type Phase int

// Phases, in order.
const (
	Downloading Phase = iota
	Decoding          // applying a delta
	Installing
	SelfTesting
	Committed
	Rejected // the self-test failed; the previous version stays current
)

func (p Phase) String() string {
	return [...]string{"downloading", "decoding", "installing", "self-testing", "committed", "rejected"}[p]
}

// Progress reports an update's progress to the host.
type Progress struct {
	Model, Version string
	Phase          Phase
	// Done and Total count bytes of the current transfer (the delta's when
	// Delta is set).
	Done, Total int64
	Delta       bool
}

// Config configures an Updater. Zero fields take the defaults stated.
type Config struct {
	// Verifier yields verified targets (required).
	Verifier Verifier
	// Transport fetches blobs (required): the host's HTTP stack, or
	// httptransport.New(client) in a pure-Go program (see package transport
	// for why the SDK does not import net/http).
	Transport transport.Getter
	// BlobURL maps a content hash (hex SHA-256) to its URL (required),
	// e.g. server + "/blobs/sha256/" + hex.
	BlobURL func(sha256 string) string
	// Clock times backoff and check-in intervals; nil means clock.Real.
	Clock clock.Clock
	// Rand returns uniform values in [0, 1) for backoff jitter; nil means
	// math/rand/v2.
	Rand func() float64
	// Runtime is what the device can run; zero means ThisRuntime().
	Runtime Runtime
	// Device describes the device at check-in.
	Device Device
	// Conditions reports the device's network and power state; nil means
	// always unmetered and charging.
	Conditions func() Conditions
	// LargeBytes is the transfer size from which a download waits for an
	// unmetered network and a charger; 0 means 16 MiB.
	LargeBytes int64
	// Interval separates successful check-ins in Run; 0 means 6 h.
	Interval time.Duration
	// BackoffBase and BackoffMax bound the exponential backoff after a
	// failed check-in; 0 means 30 s and 6 h.
	BackoffBase, BackoffMax time.Duration
	// CheckpointBytes is how much is downloaded between syncs of the .part
	// and its sidecar; 0 means 512 KiB. A crash re-fetches at most this
	// plus one copy buffer.
	CheckpointBytes int64
	// CopyBufferBytes sizes the one download buffer; 0 means 256 KiB.
	CopyBufferBytes int
	// ArenaBytes bounds the engine arena when a new bundle is loaded for its
	// self-test; 0 means no bound.
	ArenaBytes int64
	// RequireGolden rejects bundles without golden data for the self-test.
	RequireGolden bool
	// Progress, if set, is called as updates proceed, on the updating
	// goroutine; it must not block.
	Progress func(Progress)
	// Health, if set, supplies the health report sent with each check-in.
	Health HealthSource
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}
