package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery/rollout"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/aggregate"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// Rollouts is what the aggregator reads a rollout's arms from;
// *rollout.Controller implements it.
type Rollouts interface {
	Status(id string) (rollout.Status, error)
}

// TrainingHistograms returns the training histograms of a version's public
// inputs (nil when it has none).
type TrainingHistograms func(ctx context.Context, model, version string) (dhealth.Histograms, error)

// Config configures an Aggregator; zero fields take the defaults beside
// them.
type Config struct {
	// Registry declares the health streams (default device/health.Registry()).
	Registry *telemetry.Registry
	// Ledger records the ε each stream's releases spend per day (required).
	Ledger *telemetry.Ledger
	// Clock times releases, budgets and retention (default clock.Real).
	Clock clock.Clock
	// Noise is the releases' noise (default Laplace); Delta its δ for
	// Gaussian noise.
	Noise aggregate.Noise
	Delta float64
	// MaxEvents bounds one device's counted events of each proportion
	// metric per model and UTC day, over all its versions (default 100):
	// its first MaxEvents events count, with their outcomes (scaled down
	// alike for the report that crosses the cap). With FreshReleases it
	// bounds the events per version instead (a device with more keeps
	// its rate). The noise of a proportion's counts grows with it. MaxLatencyMs bounds
	// a device's p95 (default 2 000 ms), MaxMemoryMB its memory peak
	// (default 4 096 MiB).
	MaxEvents    int64
	MaxLatencyMs float64
	MaxMemoryMB  float64
	// MinInterval is how long a release is reused before a new one is
	// made (default 30 s); it also sets how many releases a day's tree of
	// a continually released counter is calibrated for (24 h/MinInterval
	// + 2), hence its noise.
	MinInterval time.Duration
	// FreshReleases makes proportion metrics fresh releases charged the
	// stream's ε each (the behaviour before continual release), instead
	// of the binary mechanism's one charge per rollout, metric and day.
	FreshReleases bool
	// UnitPeriod is how often a per-device gate metric (MetricAcc1Device,
	// MetricInferenceErrorsDevice) makes a release of the period just
	// ended, charged the stream's ε (default 24 h); looks in between reuse
	// the last.
	UnitPeriod time.Duration
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
	// Threshold is the PSI past which drift alarms (default 0.2);
	// MinDriftDevices the noisy device count below which it never alarms
	// (default 20).
	Threshold       float64
	MinDriftDevices float64
	// MaxDevices bounds the devices tracked per version (default 1 000 000);
	// later devices are not counted until others expire. MaxVersions
	// bounds the (model, version) pairs tracked (default 10 000), so
	// reports naming made-up versions cannot grow memory without bound.
	MaxDevices  int
	MaxVersions int
	// Training supplies the drift baselines; nil disables drift.
	Training TrainingHistograms
	// OnDriftAlarm, if set, is called when a fresh drift release of a
	// rollout alarms; the gates' evaluations refresh drift (at most every
	// 10·MinInterval), so the alarm does not wait for someone to look.
	OnDriftAlarm func(rolloutID string, r *DriftReport)
	// Rand seeds nothing that protects privacy (the DP noise comes from
	// the library's cryptographic generator); it is kept for tests.
	Rand *rand.Rand
}

// Aggregator is safe for concurrent use.
type Aggregator struct {
	cfg      Config
	rollouts Rollouts

	mu sync.Mutex
	// parts[model][version][device] are the devices' running totals.
	parts     map[string]map[string]map[string]*totals
	releases  map[[2]string]release
	drifts    map[string]*DriftReport
	lastPrune time.Time
	nversions int // (model, version) pairs in parts

	// Continual release of the proportion metrics (continual.go): today
	// is the UTC day counted, days[model] its counts (daySums the
	// (model, version) pairs in them), streams the trees by (rollout,
	// metric).
	today   string
	days    map[string]*dayCounts
	daySums int
	streams map[[2]string]*stream

	// Per-device gate metrics (unit.go): the rollouts' baselines by id
	// and the releases by (rollout, metric).
	baselines map[string]*baseline
	units     map[[2]string]*unitStream
}

// totals are one device's running totals for one version.
type totals struct {
	loads, loadFailures, inferences, errors, sessions, crashes, labeled, top1 int64
	latency                                                                   [dhealth.NumLatencyBuckets]int64
	peakMB                                                                    int64
	drift                                                                     map[string][]int64
	// first and last are when the totals began and were last added to.
	first, last time.Time
}

type release struct {
	at   time.Time
	arms rollout.Arms
}

// New returns an aggregator. Bind must be called before it answers Arms
// or Drift (the controller needs the aggregator first, as its Source).
func New(cfg Config) (*Aggregator, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("health: an aggregator needs a ledger")
	}
	if cfg.Registry == nil {
		cfg.Registry = dhealth.Registry()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 100
	}
	def(&cfg.MaxLatencyMs, 2000)
	def(&cfg.MaxMemoryMB, 4096)
	def(&cfg.Threshold, 0.2)
	def(&cfg.MinDriftDevices, 20)
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = 30 * time.Second
	}
	if cfg.UnitPeriod <= 0 {
		cfg.UnitPeriod = 24 * time.Hour
	}
	if cfg.MaxDevices <= 0 {
		cfg.MaxDevices = 1_000_000
	}
	if cfg.MaxVersions <= 0 {
		cfg.MaxVersions = 10_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	for _, name := range []string{dhealth.StreamLoads, dhealth.StreamInference, dhealth.StreamLatency,
		dhealth.StreamMemory, dhealth.StreamSessions, dhealth.StreamQuality, dhealth.StreamDrift} {
		s, err := cfg.Registry.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		if s.Mechanism != telemetry.Central {
			return nil, fmt.Errorf("health: stream %s must be central, not %s", name, s.Mechanism)
		}
		if err := (aggregate.Mechanism{Noise: cfg.Noise, Epsilon: s.Epsilon / 3, Delta: cfg.Delta, L0: 1, LInf: 1}).Check(); err != nil {
			return nil, fmt.Errorf("health: stream %s: %w", name, err)
		}
	}
	a := &Aggregator{cfg: cfg, parts: map[string]map[string]map[string]*totals{},
		releases: map[[2]string]release{}, drifts: map[string]*DriftReport{},
		days: map[string]*dayCounts{}, streams: map[[2]string]*stream{},
		baselines: map[string]*baseline{}, units: map[[2]string]*unitStream{}}
	for _, m := range propMetrics {
		s, err := cfg.Registry.Lookup(metricStream[m])
		if err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		if _, err := treeCost(a.continual(s)); err != nil {
			return nil, fmt.Errorf("health: stream %s: %w", s.Name, err)
		}
	}
	return a, nil
}

// Bind sets where rollouts are looked up.
func (a *Aggregator) Bind(r Rollouts) {
	a.mu.Lock()
	a.rollouts = r
	a.mu.Unlock()
}

// Ingest adds a device's report (sent with its check-in) to its totals.
// device is the check-in's device id, used only as the privacy unit. A
// report that fails validation (bounds, undeclared streams) changes
// nothing and returns an error wrapping device/health.ErrInvalid.
func (a *Aggregator) Ingest(ctx context.Context, device string, rep *dhealth.Report) error {
	return a.IngestAt(ctx, device, rep, a.cfg.Clock.Now())
}

// IngestAt is Ingest of a report received at time now rather than on the
// aggregator's clock: the feed of reports that waited in a queue (server
// side: a replica received the check-in, the leader folds it in later or
// replays it after a takeover), so retention counts from receipt.
func (a *Aggregator) IngestAt(_ context.Context, device string, rep *dhealth.Report, now time.Time) error {
	if rep.Empty() {
		return nil
	}
	if err := rep.Validate(a.cfg.Registry); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked(now)
	// Counting days follow the receipt time: a report counts on the day it
	// reached the server (server side: its JetStream timestamp, the same on
	// every replica and every redelivery), not on the day it is folded in;
	// one whose day has closed (made its closing release) stays in the
	// totals but is not counted.
	a.flipLocked(now)
	counted := telemetry.Day(now) >= a.today
	for i := range rep.Entries {
		e := &rep.Entries[i]
		if counted {
			a.countLocked(device, e)
		}
		devs := a.parts[e.Model][e.Version]
		if devs == nil {
			if a.nversions >= a.cfg.MaxVersions {
				continue
			}
			if a.parts[e.Model] == nil {
				a.parts[e.Model] = map[string]map[string]*totals{}
			}
			a.nversions++
			devs = map[string]*totals{}
			a.parts[e.Model][e.Version] = devs
		}
		t := devs[device]
		if t == nil {
			if len(devs) >= a.cfg.MaxDevices {
				continue
			}
			t = &totals{first: now}
			devs[device] = t
		}
		t.add(e)
		t.last = now
	}
	return nil
}

func sat(a, b int64) int64 { return min(a+b, dhealth.MaxCount) }

func (t *totals) add(e *dhealth.Entry) {
	t.loads, t.loadFailures = sat(t.loads, e.Loads), sat(t.loadFailures, e.LoadFailures)
	t.inferences, t.errors = sat(t.inferences, e.Inferences), sat(t.errors, e.InferenceErrors)
	t.sessions, t.crashes = sat(t.sessions, e.Sessions), sat(t.crashes, e.Crashes)
	t.labeled, t.top1 = sat(t.labeled, e.Labeled), sat(t.top1, e.Top1)
	t.peakMB = max(t.peakMB, e.PeakMemoryMB)
	for i, c := range e.Latency {
		t.latency[i] = sat(t.latency[i], c)
	}
	for _, f := range e.Drift {
		if t.drift == nil {
			t.drift = map[string][]int64{}
		}
		old := t.drift[f.Feature]
		if len(old) != len(f.Counts) {
			// New feature, or the bucket layout changed: start afresh.
			old = make([]int64, len(f.Counts))
			if len(t.drift) >= dhealth.MaxDriftFeatures {
				continue
			}
		}
		for b, c := range f.Counts {
			old[b] = sat(old[b], c)
		}
		t.drift[f.Feature] = old
	}
}

// pruneLocked drops, at most once a minute, every device's totals that
// began more than the health streams' retention ago: no contribution is
// kept longer than that (an active device starts new totals).
func (a *Aggregator) pruneLocked(now time.Time) {
	if now.Sub(a.lastPrune) < time.Minute {
		return
	}
	a.lastPrune = now
	cut := now.Add(-dhealth.Retention)
	for model, versions := range a.parts {
		for v, devs := range versions {
			for d, t := range devs {
				if t.first.Before(cut) {
					delete(devs, d)
				}
			}
			if len(devs) == 0 {
				delete(versions, v)
				a.nversions--
			}
		}
		if len(versions) == 0 {
			delete(a.parts, model)
		}
	}
	// Baselines hold devices' pre-period rates: kept no longer than the
	// totals they came from.
	for id, b := range a.baselines {
		if b.at.Before(cut) {
			delete(a.baselines, id)
		}
	}
	for key, u := range a.units {
		switch {
		case u.last.Before(cut):
			delete(a.units, key)
		case u.base != nil && u.base.at.Before(cut):
			// Later periods go without the covariate (z = y), which
			// keeps each period's difference unbiased.
			u.base = nil
		}
	}
}

// Devices returns how many devices have totals for model@version (exact;
// for tests and operators' sanity, not released to gates).
func (a *Aggregator) Devices(model, version string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.parts[model][version])
}
