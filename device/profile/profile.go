// Package profile is the device profile: the one schema (DESIGN.md,
// "Contracts") that says what a class of device can spend on a model — cores,
// memory, latency, energy, storage — and what its network costs. validate's
// budgets, eval's profiles, rollout targeting, the fleet simulator and the
// hybrid router all read it, so they cannot disagree.
//
// # Energy model
//
// Energy per inference is estimated from CPU time and the bytes of weights
// streamed from memory:
//
//	E = CPUActiveWatts · cpu_seconds + DRAMJoulesPerByte · bytes_streamed
//
// and the radio energy of a server call (Neurosurgeon's E(k), Kang et al.,
// ASPLOS 2017) from the network model:
//
//	E_radio = (UpWattsPerMbps·up_Mbps + DownWattsPerMbps·down_Mbps + BaseWatts) · t_transfer + TailWatts · TailSeconds
//
// The coefficients of the built-in profiles and their sources are in
// Builtin's doc comment; a profile file may override every one.
package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// Profile describes one class of device.
type Profile struct {
	// Name identifies the profile, e.g. "phone-mid".
	Name string `json:"name"`
	// Class is the device class rollouts target, e.g. "low", "mid", "high",
	// "server".
	Class string `json:"class"`
	// Cores is the number of CPU cores a model may use (1 on phones: the
	// app's UI and the rest of the system need the others).
	Cores int `json:"cores"`
	// ArenaBytes bounds the engine's arena for one model.
	ArenaBytes int64 `json:"arena_bytes"`
	// Latency bounds one inference's p95.
	Latency Duration `json:"latency_p95"`
	// StorageBytes bounds the models stored on the device.
	StorageBytes int64 `json:"storage_bytes"`
	// Energy is the device's power model.
	Energy Energy `json:"energy"`
	// EnergyBudgetJoules bounds one inference's estimated energy; 0 means no
	// bound.
	EnergyBudgetJoules float64 `json:"energy_budget_joules,omitempty"`
	// SpeedFactor scales latencies measured on the build machine's one core
	// to this device's (the fleet simulator's latency model); 1 means the
	// same speed.
	SpeedFactor float64 `json:"speed_factor"`
	// Networks lists the network models the device may be on.
	Networks []Network `json:"networks,omitempty"`
}

// Energy is a device's power model.
type Energy struct {
	// CPUActiveWatts is the power drawn by one busy core above idle.
	CPUActiveWatts float64 `json:"cpu_active_watts"`
	// DRAMJoulesPerByte is the energy of moving one byte from DRAM.
	DRAMJoulesPerByte float64 `json:"dram_joules_per_byte"`
}

// Network models one kind of link.
type Network struct {
	// Name is e.g. "wifi" or "lte".
	Name string `json:"name"`
	// RTT is the round trip to the server.
	RTT Duration `json:"rtt"`
	// UpMbps and DownMbps are throughputs.
	UpMbps   float64 `json:"up_mbps"`
	DownMbps float64 `json:"down_mbps"`
	// Metered says whether the user pays per byte (large downloads wait for
	// an unmetered network).
	Metered bool `json:"metered"`
	// Radio power model (Huang et al., MobiSys 2012): power while
	// transferring is Up·up_Mbps + Down·down_Mbps + Base (W); after a
	// transfer the radio stays in a high-power tail state.
	UpWattsPerMbps   float64  `json:"up_watts_per_mbps"`
	DownWattsPerMbps float64  `json:"down_watts_per_mbps"`
	BaseWatts        float64  `json:"base_watts"`
	TailWatts        float64  `json:"tail_watts"`
	Tail             Duration `json:"tail"`
}

// Duration is a time.Duration that reads and writes JSON as a string such as
// "2ms" (or a number of nanoseconds when read).
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string like \"2ms\" or nanoseconds: %w", err)
	}
	*d = Duration(n)
	return nil
}

// InferenceEnergy estimates the energy of one inference taking cpu of CPU
// time and streaming weightBytes from DRAM.
func (p *Profile) InferenceEnergy(cpu time.Duration, weightBytes int64) float64 {
	return p.Energy.CPUActiveWatts*cpu.Seconds() + p.Energy.DRAMJoulesPerByte*float64(weightBytes)
}

// TransferTime is the time to send up bytes and receive down bytes,
// including one round trip.
func (n *Network) TransferTime(up, down int64) time.Duration {
	t := time.Duration(n.RTT)
	if n.UpMbps > 0 {
		t += time.Duration(float64(up*8) / (n.UpMbps * 1e6) * float64(time.Second))
	}
	if n.DownMbps > 0 {
		t += time.Duration(float64(down*8) / (n.DownMbps * 1e6) * float64(time.Second))
	}
	return t
}

// RadioEnergy estimates the radio energy of one server call sending up bytes
// and receiving down bytes, tail included.
func (n *Network) RadioEnergy(up, down int64) float64 {
	t := n.TransferTime(up, down).Seconds()
	upMbps, downMbps := 0.0, 0.0
	if t > 0 {
		upMbps = float64(up*8) / 1e6 / t
		downMbps = float64(down*8) / 1e6 / t
	}
	p := n.UpWattsPerMbps*upMbps + n.DownWattsPerMbps*downMbps + n.BaseWatts
	return p*t + n.TailWatts*time.Duration(n.Tail).Seconds()
}

// Network returns the named network model.
func (p *Profile) Network(name string) (*Network, bool) {
	for i := range p.Networks {
		if p.Networks[i].Name == name {
			return &p.Networks[i], true
		}
	}
	return nil, false
}

// Validate checks that every field is usable.
func (p *Profile) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(p.Name != "", "name is empty")
	check(p.Cores >= 1, "cores %d < 1", p.Cores)
	check(p.ArenaBytes > 0, "arena_bytes %d ≤ 0", p.ArenaBytes)
	check(p.Latency > 0, "latency_p95 %v ≤ 0", time.Duration(p.Latency))
	check(p.StorageBytes > 0, "storage_bytes %d ≤ 0", p.StorageBytes)
	check(p.Energy.CPUActiveWatts >= 0 && p.Energy.DRAMJoulesPerByte >= 0, "negative energy coefficients")
	check(p.EnergyBudgetJoules >= 0, "negative energy budget")
	check(p.SpeedFactor > 0, "speed_factor %v ≤ 0", p.SpeedFactor)
	seen := map[string]bool{}
	for _, n := range p.Networks {
		check(n.Name != "" && !seen[n.Name], "network name %q empty or repeated", n.Name)
		seen[n.Name] = true
		check(n.RTT >= 0 && n.UpMbps > 0 && n.DownMbps > 0, "network %q: rtt, up_mbps, down_mbps must be positive", n.Name)
		check(n.UpWattsPerMbps >= 0 && n.DownWattsPerMbps >= 0 && n.BaseWatts >= 0 && n.TailWatts >= 0 && n.Tail >= 0,
			"network %q: negative power coefficients", n.Name)
	}
	if len(errs) > 0 {
		return fmt.Errorf("profile %q: %w", p.Name, errors.Join(errs...))
	}
	return nil
}

// Read decodes and validates a profile from JSON; unknown fields are errors,
// so a misspelt budget is not silently ignored.
func Read(r io.Reader) (*Profile, error) {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Load returns the built-in profile with that name, or reads the file at
// that path.
func Load(nameOrPath string) (*Profile, error) {
	if p, ok := Builtin()[nameOrPath]; ok {
		return p, nil
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("profile %q is neither built in (%v) nor a readable file: %w", nameOrPath, Names(), err)
	}
	defer f.Close()
	return Read(f)
}

// Names lists the built-in profiles.
func Names() []string {
	var names []string
	for n := range Builtin() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
