package server

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/privacy/ldp"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// TelemetryConfig configures the anonymous local-DP report endpoint
// (POST /v1/telemetry). Every zero field takes the default beside it.
type TelemetryConfig struct {
	// Registry declares the streams the server accepts (default: none, so
	// every report is refused as undeclared).
	Registry *telemetry.Registry
	// Rate is the one, identity-free token bucket every batch draws from
	// (default 500 batches/s, burst 2000): it keeps no key per client.
	Rate Rate
	// StreamRate bounds the reports each stream accepts (default 20 000
	// reports/s, burst 100 000), one bucket per declared stream.
	StreamRate Rate
	// MaxBatchReports bounds the reports in one batch (default 256);
	// MaxBatchBytes its body (default 256 KiB). Either → 413.
	MaxBatchReports int
	MaxBatchBytes   int64
	// MaxPublicItems bounds the distinct items counted per none-mechanism
	// stream (default 10 000); later new items count as "other".
	MaxPublicItems int
	// Queue and Aggregates, when both set, make the aggregates durable
	// and shared by replicas (telemetry_queue.go): accepted batches go to
	// the queue and RunTelemetry folds them in and commits the aggregates.
	Queue      TelemetryQueue
	Aggregates TelemetryAggregates
}

func (c TelemetryConfig) withDefaults() TelemetryConfig {
	if c.Rate.PerSecond == 0 && c.Rate.Burst == 0 {
		c.Rate = Rate{PerSecond: 500, Burst: 2000}
	}
	if c.StreamRate.PerSecond == 0 && c.StreamRate.Burst == 0 {
		c.StreamRate = Rate{PerSecond: 20_000, Burst: 100_000}
	}
	if c.MaxBatchReports <= 0 {
		c.MaxBatchReports = 256
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 256 << 10
	}
	if c.MaxPublicItems <= 0 {
		c.MaxPublicItems = 10_000
	}
	return c
}

// telemetrySink aggregates reports into per-stream sketches in memory. Raw
// reports are parsed, folded in and dropped: nothing of a report is stored
// or logged, and the aggregate is lost on restart — unless a queue is
// configured (telemetry_queue.go): then raw reports wait in the queue until
// aggregated, and the aggregates are committed to the store.
type telemetrySink struct {
	cfg    TelemetryConfig
	global *limiter
	// streams is fixed at construction; each stream guards its own state.
	streams map[string]*streamAgg

	reports *prometheus.CounterVec
	batches *prometheus.CounterVec
}

// streamAgg is one stream's aggregate and its report bucket.
type streamAgg struct {
	schema *telemetry.Schema
	clk    clock.Clock
	rate   Rate

	// mu guards everything below.
	mu     sync.Mutex
	queue  queueState // what of the queue is folded in (telemetry_queue.go)
	sketch *ldp.Sketch
	public map[string]int
	other  int
	n      int
	tokens float64
	last   time.Time
}

// takeN draws n report tokens from the stream's bucket.
func (a *streamAgg) takeNLocked(n int) (bool, time.Duration) {
	if a.rate.PerSecond <= 0 {
		return true, 0
	}
	now := a.clk.Now()
	burst := float64(max(a.rate.Burst, 1))
	if a.last.IsZero() {
		a.tokens, a.last = burst, now
	}
	if dt := now.Sub(a.last).Seconds(); dt > 0 {
		a.tokens = math.Min(burst, a.tokens+dt*a.rate.PerSecond)
		a.last = now
	}
	if a.tokens >= float64(n) {
		a.tokens -= float64(n)
		return true, 0
	}
	return false, time.Duration((float64(n) - a.tokens) / a.rate.PerSecond * float64(time.Second))
}

func newTelemetrySink(cfg TelemetryConfig, clk clock.Clock, reg *prometheus.Registry) (*telemetrySink, error) {
	cfg = cfg.withDefaults()
	t := &telemetrySink{
		cfg:     cfg,
		global:  newLimiter(cfg.Rate, clk, 1),
		streams: map[string]*streamAgg{},
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sextant_telemetry_reports_total",
			Help: "Telemetry reports by declared stream and outcome (accepted, rate_limited).",
		}, []string{"stream", "outcome"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sextant_telemetry_batches_total",
			Help: "Telemetry batches by outcome (accepted, invalid, undeclared, too_large, rate_limited).",
		}, []string{"outcome"}),
	}
	if cfg.Registry != nil {
		for _, name := range cfg.Registry.Names() {
			s, err := cfg.Registry.Lookup(name)
			if err != nil {
				return nil, err
			}
			if s.Mechanism == telemetry.Central {
				continue // sent with check-ins (health.go), never here
			}
			a := &streamAgg{schema: s, clk: clk, rate: cfg.StreamRate}
			if s.Mechanism == telemetry.None {
				a.public = map[string]int{}
			} else {
				a.sketch = ldp.NewSketch(s.Params())
			}
			t.streams[name] = a
		}
	}
	for _, c := range []prometheus.Collector{t.reports, t.batches} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: telemetry metrics: %w", err)
		}
	}
	return t, nil
}

// report is the anonymous report endpoint: no credential, no identifier.
// The whole batch is parsed and checked before any of it is aggregated, so
// a refused batch changes nothing.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	t := s.telemetry
	if err := t.receive(w, r); err != nil {
		code, _ := codeOf(err)
		if errors.Is(err, errUndeclared) {
			code = "undeclared"
		}
		t.batches.WithLabelValues(code).Inc()
		s.writeError(w, r, err)
		return
	}
	t.batches.WithLabelValues("accepted").Inc()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

var errUndeclared = errors.New("undeclared stream")

func (t *telemetrySink) receive(w http.ResponseWriter, r *http.Request) error {
	if ok, wait := t.global.allow(""); !ok {
		return rateLimited(wait)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, t.cfg.MaxBatchBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return delivery.Errorf(delivery.ErrInvalid, "reading the batch: %v", err)
	}
	type parsed struct {
		agg *streamAgg
		rep telemetry.Report
		raw []byte
	}
	var reps []parsed
	per := map[*streamAgg]int{}
	err = telemetry.SplitBatch(body, t.cfg.MaxBatchReports, telemetry.DefaultLimits.MaxBits/8+2*telemetry.MaxNameLen, func(b []byte) error {
		rep, err := telemetry.ParseReport(b, telemetry.DefaultLimits)
		if err != nil {
			return delivery.Errorf(delivery.ErrInvalid, "report %d: %v", len(reps), err)
		}
		agg := t.streams[rep.Stream]
		if agg == nil {
			return fmt.Errorf("%w: %w", errUndeclared, delivery.Errorf(delivery.ErrInvalid, "stream %q is not declared", rep.Stream))
		}
		if err := agg.schema.Check(&rep); err != nil {
			return delivery.Errorf(delivery.ErrInvalid, "report %d: %v", len(reps), err)
		}
		reps = append(reps, parsed{agg, rep, b})
		per[agg]++
		return nil
	})
	var tooMany *telemetry.BatchTooLargeError
	if errors.As(err, &tooMany) {
		return &httpError{code: codeTooLarge, msg: tooMany.Error()}
	}
	if err != nil {
		if delivery.Code(err) == "internal" { // a framing error
			return delivery.Errorf(delivery.ErrInvalid, "%v", err)
		}
		return err
	}
	// Per-stream caps, all or nothing: each stream's share is taken in
	// turn and given back if a later stream refuses.
	taken := []*streamAgg{}
	for agg, n := range per {
		agg.mu.Lock()
		ok, wait := agg.takeNLocked(n)
		agg.mu.Unlock()
		if !ok {
			for _, a := range taken {
				a.mu.Lock()
				a.tokens += float64(per[a])
				a.mu.Unlock()
			}
			t.reports.WithLabelValues(agg.schema.Name, "rate_limited").Add(float64(n))
			return rateLimited(wait)
		}
		taken = append(taken, agg)
	}
	if t.queued() {
		per := map[*streamAgg][]byte{}
		for _, p := range reps {
			per[p.agg] = telemetry.AppendBatchItem(per[p.agg], p.raw)
		}
		if err := t.enqueue(r.Context(), per); err != nil {
			return err
		}
	} else {
		for _, p := range reps {
			p.agg.add(&p.rep, t.cfg.MaxPublicItems)
		}
	}
	for agg, n := range per {
		t.reports.WithLabelValues(agg.schema.Name, "accepted").Add(float64(n))
	}
	return nil
}

// add folds one checked report in.
func (a *streamAgg) add(rep *telemetry.Report, maxItems int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addLocked(rep, maxItems)
}

// addLocked is add with a.mu held.
func (a *streamAgg) addLocked(rep *telemetry.Report, maxItems int) {
	a.n++
	if a.sketch == nil {
		item := string(rep.Item)
		if _, ok := a.public[item]; ok || len(a.public) < maxItems {
			a.public[item]++
		} else {
			a.other++
		}
		return
	}
	// Check has bounded row, column and width to the stream's parameters.
	_ = a.sketch.Add(rep.LDP())
}
