package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/rollout"
	"github.com/sextant-ml/sextant/server/console"
)

// Config wires a Server. Store, Blobs and Signing are required; every other
// zero field takes the default documented beside it.
type Config struct {
	// Store persists the registry, tokens, devices and the audit log.
	Store delivery.Store
	// Blobs holds bundles by content address.
	Blobs delivery.BlobStore
	// Signing is the signed-metadata state (OpenSigning).
	Signing *Signing
	// Clock is the time source of rate limits, caches and re-signing
	// (default clock.Real).
	Clock clock.Clock
	// Logger receives request logs and errors (default: discard).
	Logger *slog.Logger
	// Registry receives the server's metrics (default: a new registry,
	// which /metrics serves either way).
	Registry *prometheus.Registry

	// TokenRate limits each admin token (default 20/s, burst 40);
	// DeviceRate each device (default 1/s, burst 10); EnrollRate each
	// enrollment token, which every install of an app shares (default
	// 200/s, burst 1000).
	TokenRate, DeviceRate, EnrollRate Rate
	// InferRate limits each device's POST /v1/infer calls, apart from its
	// other calls (default 5/s, burst 20): a hybrid model asks per user
	// action, check-ins a few times a day.
	InferRate Rate
	// FLRate limits each device's calls to the federated-learning
	// endpoints, apart from its other calls (default 10/s, burst 100): a
	// round takes a dozen calls, its waits are long polls.
	FLRate Rate
	// MaxLimiterKeys bounds each rate limiter's memory (default 100 000
	// keys; see limiter for the eviction policy).
	MaxLimiterKeys int
	// MaxBundleBytes bounds an uploaded bundle (default 4 GiB).
	MaxBundleBytes int64
	// CurrentTTL is how long check-ins reuse a model's current version
	// before asking the store again (default 5 s; changes made through this
	// server apply at once).
	CurrentTTL time.Duration
	// StampInterval is how often an unchanged device's last check-in is
	// written to the store (default 1 h): check-ins in between write
	// nothing.
	StampInterval time.Duration
	// StampBatch, when positive (and the store supports it), batches the
	// stamps: written every StampBatch in one transaction, off the
	// check-in's path (stamps.go). Zero writes each one synchronously.
	StampBatch time.Duration
	// CheckInInterval is the interval the server advises devices to wait
	// between check-ins (default 6 h).
	CheckInInterval time.Duration
	// ShutdownTimeout bounds a graceful shutdown (default 10 s).
	ShutdownTimeout time.Duration
	// Telemetry configures the anonymous local-DP report endpoint.
	Telemetry TelemetryConfig
	// Rollouts, when set, serves the admin rollout routes (rollouts.go);
	// without it they answer not found.
	Rollouts Rollouts
	// Assigner, when set, is consulted first for each model of a device's
	// director assignment ("" keeps the current version); default
	// Rollouts.
	Assigner rollout.Assigner
	// Health, when set, takes the health reports of check-ins; Drift,
	// when set, adds input drift to a rollout's status (health.go).
	Health HealthSink
	Drift  DriftSource
	// Tasks and Experiments, when set, list the federated tasks and A/B
	// tests the console and GET /v1/admin/fl/tasks and
	// /v1/admin/experiments show (console.Coordinators and
	// console.ExperimentBoard fill them); without them those lists are
	// empty.
	Tasks       console.Tasks
	Experiments console.Experiments
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	rate := func(r *Rate, per float64, burst int) {
		if r.PerSecond == 0 && r.Burst == 0 {
			*r = Rate{PerSecond: per, Burst: burst}
		}
	}
	rate(&c.TokenRate, 20, 40)
	rate(&c.DeviceRate, 1, 10)
	rate(&c.EnrollRate, 200, 1000)
	rate(&c.InferRate, 5, 20)
	rate(&c.FLRate, 10, 100)
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.CurrentTTL, 5*time.Second)
	def(&c.StampInterval, time.Hour)
	def(&c.CheckInInterval, 6*time.Hour)
	def(&c.ShutdownTimeout, 10*time.Second)
	if c.MaxBundleBytes <= 0 {
		c.MaxBundleBytes = 4 << 30
	}
	if c.Assigner == nil && c.Rollouts != nil {
		c.Assigner = c.Rollouts
	}
	return c
}

// Server is Sextant's HTTP server. Create it with New, serve with Run or
// Handler, stop background work with Close.
type Server struct {
	cfg     Config
	store   delivery.Store
	blobs   delivery.BlobStore
	sign    *Signing
	clk     clock.Clock
	log     *slog.Logger
	metrics *metrics
	handler http.Handler

	tokenLimit, deviceLimit, enrollLimit *limiter
	inferLimit, flLimit                  *limiter
	currents                             *currents
	devices                              *deviceCache
	telemetry                            *telemetrySink
	versions                             versionCache
	fleet                                *fleet
	stamps                               stamps       // stamps.go
	loader                               deviceLoader // devload.go
	console                              *console.Console
	fl                                   *flTasks // federated tasks (fl.go)
	flOnce                               sync.Once

	// bgOnce starts the background work once; stop ends it and bg waits.
	bgOnce sync.Once
	stop   context.CancelFunc
	bgCtx  context.Context
	bg     sync.WaitGroup
}

// New returns a server for cfg. It does no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Signing == nil {
		return nil, errors.New("server: config needs a store, a blob store and signing")
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg: cfg, store: cfg.Store, blobs: cfg.Blobs, sign: cfg.Signing, clk: cfg.Clock, log: cfg.Logger,
		tokenLimit:  newLimiter(cfg.TokenRate, cfg.Clock, cfg.MaxLimiterKeys),
		deviceLimit: newLimiter(cfg.DeviceRate, cfg.Clock, cfg.MaxLimiterKeys),
		enrollLimit: newLimiter(cfg.EnrollRate, cfg.Clock, cfg.MaxLimiterKeys),
		inferLimit:  newLimiter(cfg.InferRate, cfg.Clock, cfg.MaxLimiterKeys),
		flLimit:     newLimiter(cfg.FLRate, cfg.Clock, cfg.MaxLimiterKeys),
		currents:    newCurrents(cfg.Store, cfg.Clock, cfg.CurrentTTL),
		devices:     newDeviceCache(cfg.MaxLimiterKeys),
		fleet:       newFleet(cfg.MaxLimiterKeys),
	}
	m, err := newMetrics(cfg.Registry, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.telemetry, err = newTelemetrySink(cfg.Telemetry, cfg.Clock, cfg.Registry); err != nil {
		return nil, err
	}
	if s.console, err = console.New(console.Config{Source: consoleSource{Store: cfg.Store, s: s}, Clock: cfg.Clock, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	s.bgCtx, s.stop = context.WithCancel(context.Background())
	s.handler = s.observe(s.routes())
	return s, nil
}

// Handler returns the server's HTTP handler. Serving it without Run does
// not start the background re-signing; call Start for that.
func (s *Server) Handler() http.Handler { return s.handler }

// Start starts the background work (re-signing snapshot and timestamp
// before they expire) if it has not started. Run calls it.
func (s *Server) Start() {
	s.bgOnce.Do(func() {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.sign.RunRefresher(s.bgCtx)
		}()
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.prewarmDevices(s.bgCtx) // devload.go
		}()
	})
}

// Run serves ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to ShutdownTimeout), and
// returns. It returns nil after a shutdown that ctx started.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	s.Start()
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(s.console.Close) // end the console's event streams
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// Close stops the background work and waits for it. It does not close the
// store or the blob store, which the caller owns.
func (s *Server) Close() error {
	s.stop()
	s.bg.Wait()
	return nil
}

// routes is the API; docs/openapi.yaml documents each route.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.metrics.handler)

	// Device API.
	mux.Handle("POST /v1/devices", s.enroll(s.registerDevice))
	mux.Handle("POST /v1/devices/{id}/checkin", s.device(s.checkIn))
	mux.Handle("GET /v1/director/devices/{id}/targets.json", s.device(s.directorTargets))
	mux.HandleFunc("GET /v1/director/{file}", s.metadataFile(repoDirector))
	mux.HandleFunc("GET /v1/image/{file}", s.metadataFile(repoImage))
	mux.HandleFunc("GET /v1/blobs/sha256/{hex}", s.blob)
	mux.Handle("POST /v1/infer/{model}", newInferer(s))
	mux.HandleFunc("POST /v1/telemetry", s.report)
	mux.Handle("GET /v1/devices/{id}/fl/{task}", s.flRoute(s.flStatus, s.flBoardStatus))
	mux.Handle("POST /v1/devices/{id}/fl/{task}/checkin", s.flRoute(s.flCheckIn, s.flBoardCheckIn))
	mux.Handle("POST /v1/devices/{id}/fl/{task}/configure", s.flRoute(s.flConfigure, s.flBoardConfigure))
	mux.Handle("POST /v1/devices/{id}/fl/{task}/messages", s.flSendRoute()) // fl_uploads.go
	mux.Handle("GET /v1/devices/{id}/fl/{task}/messages/{step}", s.flRoute(s.flNext, s.flBoardNext))
	mux.Handle("POST /v1/devices/{id}/fl/{task}/leave", s.flRoute(s.flLeave, s.flBoardLeave))

	// Admin API.
	mux.Handle("GET /v1/admin/models", s.admin(delivery.ScopeRead, "models.list", s.listModels))
	mux.Handle("GET /v1/admin/models/{name}", s.admin(delivery.ScopeRead, "models.show", s.getModel))
	mux.Handle("GET /v1/admin/models/{name}/versions", s.admin(delivery.ScopeRead, "versions.list", s.listVersions))
	mux.Handle("POST /v1/admin/models/{name}/versions", s.admin(delivery.ScopePublish, "publish", s.publish))
	mux.Handle("GET /v1/admin/models/{name}/versions/{version}", s.admin(delivery.ScopeRead, "versions.show", s.getVersion))
	mux.Handle("GET /v1/admin/models/{name}/versions/{version}/lineage", s.admin(delivery.ScopeRead, "versions.lineage", s.lineage))
	mux.Handle("PUT /v1/admin/models/{name}/current", s.admin(delivery.ScopeRollout, "set-current", s.setCurrent))
	mux.Handle("GET /v1/admin/metadata", s.admin(delivery.ScopePublish, "metadata.get", s.getMetadata))
	mux.Handle("POST /v1/admin/metadata", s.admin(delivery.ScopePublish, "metadata.upload", s.uploadMetadata))
	mux.Handle("GET /v1/admin/audit", s.admin(delivery.ScopeRead, "audit.list", s.listAudit))
	mux.Handle("GET /v1/admin/fleet", s.admin(delivery.ScopeRead, "fleet.show", s.getFleet))
	mux.Handle("GET /v1/admin/fl/tasks", s.admin(delivery.ScopeRead, "fl.tasks", s.listTasks))
	mux.Handle("GET /v1/admin/experiments", s.admin(delivery.ScopeRead, "experiments.list", s.listExperiments))
	mux.Handle("GET /v1/admin/telemetry/{stream}", s.admin(delivery.ScopeRead, "telemetry.show", s.telemetryEstimates))
	mux.Handle("POST /v1/admin/rollouts", s.admin(delivery.ScopeRollout, "rollouts.create", s.createRollout))
	mux.Handle("GET /v1/admin/rollouts", s.admin(delivery.ScopeRead, "rollouts.list", s.listRollouts))
	mux.Handle("GET /v1/admin/rollouts/{id}", s.admin(delivery.ScopeRead, "rollouts.show", s.getRollout))
	mux.Handle("POST /v1/admin/rollouts/{id}/{action}", s.admin(delivery.ScopeRollout, "rollouts.action", s.rolloutAction))
	// The web console (package console), behind its own sign-in.
	mux.Handle(console.Prefix, s.console)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, delivery.Errorf(delivery.ErrNotFound, "no such route"))
	})
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
