package router

import (
	"context"
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/tensor"
)

// Policy is how a model's requests choose between device and server.
type Policy int

// The policies (see the package documentation).
const (
	OnDevice Policy = iota
	PreferDevice
	PreferServer
	ServerOnly
	Cascade
	LatencyAware
	EnergyAware
	Race
)

var policyNames = [...]string{"on-device", "prefer-device", "prefer-server", "server-only", "cascade", "latency-aware", "energy-aware", "race"}

func (p Policy) String() string {
	if p >= 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// ParsePolicy returns the policy String prints as s.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("router: unknown policy %q", s)
}

// Source says where an answer came from.
type Source string

// The sources.
const (
	SourceDevice Source = "device"
	SourceServer Source = "server"
)

// Local runs the on-device model. Implementations must be safe for
// concurrent use.
type Local interface {
	Run(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error)
}

// Model is one model's routing configuration.
type Model struct {
	// Manifest is the on-device bundle's manifest: signature, privacy
	// classes, calibration and server variant.
	Manifest *bundle.Manifest
	// Local runs the model on device; nil when no version is installed.
	Local Local
	// Policy chooses device or server.
	Policy Policy
	// Deadline bounds a request's server wait (default 250 ms).
	Deadline time.Duration
	// Measure and ConfidenceOutput (default: the first signature output)
	// define the cascade's confidence.
	Measure          Measure
	ConfidenceOutput string
	// WeightBytes is the bytes of weights one inference streams, for the
	// energy model.
	WeightBytes int64
	// CacheSize, when positive, keeps that many recent answers in memory
	// for CacheTTL (default 1 min): an identical request within it is
	// answered from the cache (SourceCache).
	CacheSize int
	CacheTTL  time.Duration
}

// Thermal is the host's thermal state (the levels of iOS's
// ProcessInfo.ThermalState and Android's PowerManager status, folded).
type Thermal int

// Thermal states.
const (
	ThermalNominal Thermal = iota
	ThermalFair
	ThermalSerious
	ThermalCritical
)

// HostState is what the host app knows about the phone.
type HostState struct {
	// Online is whether a network is available.
	Online bool
	// Metered is whether that network charges per byte.
	Metered bool
	// Battery is the charge level in [0, 1]; Charging whether it is
	// charging.
	Battery  float64
	Charging bool
	Thermal  Thermal
}

// Host reports the phone's state; the host app implements it. It is called
// once per Predict and must be cheap.
type Host interface {
	State() HostState
}

// alwaysOnline is the Host when none is configured.
type alwaysOnline struct{}

func (alwaysOnline) State() HostState { return HostState{Online: true, Battery: 1, Charging: true} }
