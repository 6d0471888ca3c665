package sim

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/profile"
)

// Config sets up a simulated fleet. Zero fields take the defaults stated.
type Config struct {
	// Devices is the size of the fleet (default 20).
	Devices int
	// Seed makes the fleet's profiles, inputs and check-in schedule
	// reproducible.
	Seed uint64
	// Clock is the server's, the signers' and the devices' time source
	// (default clock.Real); compute latency is always measured in real time.
	Clock clock.Clock
	// Profiles is the fleet's mix of device classes (default: phone-low
	// 30%, phone-mid 50%, phone-high 20% of device/profile's built-ins).
	Profiles []Share
	// Predictions is how many predictions each device runs on each version
	// (default 20).
	Predictions int
	// Concurrency bounds the devices working at once (default 4 per CPU).
	Concurrency int
	// CheckInProb is the chance that a device checks in during one round of
	// the v2 rollout (default 0.25: a 6 h check-in interval seen in rounds
	// of RoundInterval, rounded); MaxRounds bounds the rounds (default 64).
	CheckInProb float64
	MaxRounds   int
	// RoundInterval is the simulated time one round stands for in the
	// report (default 90 min). Rounds do not wait for it.
	RoundInterval time.Duration
	// Dir holds the server's and the devices' state; empty means a
	// temporary directory, removed at the end.
	Dir string
	// Logger receives the server's logs and the simulator's events
	// (default: discard).
	Logger *slog.Logger
	// Progress, if set, is called as phases advance, from one goroutine at a
	// time; it must not block.
	Progress func(Progress)
}

// Share is one device class's part of the fleet.
type Share struct {
	Profile *profile.Profile
	Weight  float64
}

// Progress reports a phase's advance.
type Progress struct {
	// Phase is "setup", "enroll", "install-v1", "predict-v1", "publish-v2",
	// "rollout-v2", "predict-v2" or "done".
	Phase string
	// Done of Total units (devices, or rounds for rollout-v2).
	Done, Total int
	// OnV2 is the fraction of the fleet on v2 (rollout-v2 only).
	OnV2 float64
}

func (c *Config) defaults() error {
	if c.Devices == 0 {
		c.Devices = 20
	}
	if c.Devices < 0 {
		return fmt.Errorf("sim: %d devices", c.Devices)
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	if len(c.Profiles) == 0 {
		b := profile.Builtin()
		c.Profiles = []Share{{b["phone-low"], 0.3}, {b["phone-mid"], 0.5}, {b["phone-high"], 0.2}}
	}
	total := 0.0
	for _, s := range c.Profiles {
		if s.Profile == nil || s.Weight < 0 {
			return fmt.Errorf("sim: profile share %+v", s)
		}
		if err := s.Profile.Validate(); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		total += s.Weight
	}
	if total <= 0 {
		return fmt.Errorf("sim: profile weights sum to %v", total)
	}
	if c.Predictions == 0 {
		c.Predictions = 20
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4 * runtime.GOMAXPROCS(0)
	}
	if c.CheckInProb == 0 {
		c.CheckInProb = 0.25
	}
	if c.CheckInProb < 0 || c.CheckInProb > 1 {
		return fmt.Errorf("sim: check-in probability %v", c.CheckInProb)
	}
	if c.MaxRounds == 0 {
		c.MaxRounds = 64
	}
	if c.RoundInterval == 0 {
		c.RoundInterval = 90 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// pick returns the profile for a uniform u in [0, 1).
func (c *Config) pick(u float64) *profile.Profile {
	total := 0.0
	for _, s := range c.Profiles {
		total += s.Weight
	}
	u *= total
	for _, s := range c.Profiles {
		if u < s.Weight {
			return s.Profile
		}
		u -= s.Weight
	}
	return c.Profiles[len(c.Profiles)-1].Profile
}
