// Package telemetry is the device SDK's sender of local-DP telemetry: it
// queues reports that privacy/telemetry's Encoder has already privatized
// and posts them to the server's anonymous endpoint (POST /v1/telemetry)
// in batches, each after a random delay, so that neither the moment an
// event happened nor which reports came from one device shows in the
// traffic's timing beyond the batch.
//
// A batch carries no device identifier, no credential, no timestamp and no
// sequence number: the request has no Authorization header and its body is
// the reports' wire forms, each length-prefixed
// (privacy/telemetry.AppendBatchItem). The network goes through a
// transport.Poster the host supplies (the SDK does not import net/http).
//
// Nothing is dropped silently. The queue is bounded (Config.MaxQueue):
// when full, Enqueue refuses with a *QueueFullError and the caller decides.
// A batch that fails on the network, is rate-limited (429) or meets a
// server error (5xx) stays queued and is retried after a longer random
// delay; a batch the server refuses for good (another 4xx: an undeclared
// stream, a malformed report) is removed and handed to Config.OnRefused,
// and counted in Stats.
//
// Time and randomness are injected (Config.Clock, Config.Rand): tests run
// the sender under testing/synctest.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/transport"
	ptelemetry "github.com/sextant-ml/sextant/privacy/telemetry"
)

// Config configures a Sender. Poster, URL and Rand are required.
type Config struct {
	// Poster sends the batches; URL is the endpoint
	// (https://host/v1/telemetry).
	Poster transport.Poster
	URL    string
	// Clock times the delays (default clock.Real).
	Clock clock.Clock
	// Rand draws the delays (seeded in tests; a cryptographic source in
	// production, so that delays are not predictable).
	Rand *rand.Rand
	// MaxQueue bounds the queued reports (default 1024); MaxBatch the
	// reports per batch (default 256) and MaxBatchBytes its body (default
	// 256 KiB): the server's bounds.
	MaxQueue, MaxBatch, MaxBatchBytes int
	// MinDelay and MaxDelay bound the uniform random delay before a batch
	// is sent (default 0 and 1 h). After n consecutive failures the upper
	// bound doubles n times, up to MaxBackoff (default 24 h).
	MinDelay, MaxDelay, MaxBackoff time.Duration
	// OnRefused, when set, is called with the reports of a batch the
	// server refused for good, and why.
	OnRefused func(reports [][]byte, err error)
}

// QueueFullError is Enqueue's refusal when the queue holds MaxQueue
// reports.
type QueueFullError struct{ Max int }

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("telemetry: queue full (%d reports)", e.Max)
}

// ErrReportTooLarge is Enqueue's refusal of a report that alone exceeds a
// batch's byte bound.
var ErrReportTooLarge = errors.New("telemetry: report exceeds the batch size bound")

// RefusedError is a server's final refusal of a batch.
type RefusedError struct{ Status int }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("telemetry: server refused the batch (HTTP %d)", e.Status)
}

// Stats counts reports by fate.
type Stats struct {
	Queued, Sent, Refused int
	// Failures is the number of attempts that will be retried.
	Failures int
}

// Sender queues reports and posts them in delayed batches. Enqueue is safe
// for concurrent use; Run runs once.
type Sender struct {
	cfg Config

	// mu guards queue, stats and r.
	mu    sync.Mutex
	queue [][]byte
	stats Stats
	r     *rand.Rand
	// wake has room for one signal that the queue became non-empty.
	wake chan struct{}
}

// New returns a Sender for cfg.
func New(cfg Config) (*Sender, error) {
	if cfg.Poster == nil || cfg.URL == "" || cfg.Rand == nil {
		return nil, errors.New("telemetry: sender needs a poster, a URL and a random source")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxQueue, 1024)
	def(&cfg.MaxBatch, 256)
	def(&cfg.MaxBatchBytes, 256<<10)
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Hour
	}
	if cfg.MinDelay < 0 || cfg.MinDelay > cfg.MaxDelay {
		return nil, fmt.Errorf("telemetry: delay bounds [%v, %v] are not ordered", cfg.MinDelay, cfg.MaxDelay)
	}
	if cfg.MaxBackoff < cfg.MaxDelay {
		cfg.MaxBackoff = max(24*time.Hour, cfg.MaxDelay)
	}
	return &Sender{cfg: cfg, r: cfg.Rand, wake: make(chan struct{}, 1)}, nil
}

// Enqueue queues one report (a wire form from Encoder.Append; the sender
// keeps its own copy). It refuses with *QueueFullError when the queue is
// full and with ErrReportTooLarge for a report no batch can carry.
func (s *Sender) Enqueue(report []byte) error {
	if len(ptelemetry.AppendBatchItem(nil, report)) > s.cfg.MaxBatchBytes {
		return ErrReportTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= s.cfg.MaxQueue {
		return &QueueFullError{Max: s.cfg.MaxQueue}
	}
	s.queue = append(s.queue, append([]byte(nil), report...))
	s.stats.Queued = len(s.queue)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns the counts so far.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run sends batches until ctx ends, and returns ctx's error. Reports still
// queued then stay in the Sender (Pending returns them).
func (s *Sender) Run(ctx context.Context) error {
	fails := 0
	for {
		if s.Stats().Queued == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.wake:
				continue
			}
		}
		if err := s.cfg.Clock.Sleep(ctx, s.delay(fails)); err != nil {
			return ctx.Err()
		}
		if s.sendOne(ctx) {
			fails = 0
		} else {
			fails++
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Pending returns copies of the queued reports (for a host that persists
// them across restarts).
func (s *Sender) Pending() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.queue))
	for i, r := range s.queue {
		out[i] = append([]byte(nil), r...)
	}
	return out
}

// delay draws the wait before the next attempt: uniform in [MinDelay,
// hi) with hi = MaxDelay doubled once per consecutive failure, capped.
func (s *Sender) delay(fails int) time.Duration {
	hi := s.cfg.MaxDelay
	for range fails {
		if hi >= s.cfg.MaxBackoff/2 {
			hi = s.cfg.MaxBackoff
			break
		}
		hi *= 2
	}
	span := hi - s.cfg.MinDelay
	if span <= 0 {
		return s.cfg.MinDelay
	}
	s.mu.Lock()
	d := s.cfg.MinDelay + time.Duration(s.r.Int64N(int64(span)))
	s.mu.Unlock()
	return d
}

// sendOne posts the head of the queue as one batch and reports whether
// the attempt counts as a success (sent, or refused for good).
func (s *Sender) sendOne(ctx context.Context) bool {
	s.mu.Lock()
	var body []byte
	n := 0
	for n < len(s.queue) && n < s.cfg.MaxBatch {
		next := ptelemetry.AppendBatchItem(body, s.queue[n])
		if len(next) > s.cfg.MaxBatchBytes {
			break
		}
		body, n = next, n+1
	}
	s.mu.Unlock()
	if n == 0 {
		return true
	}
	resp, err := s.cfg.Poster.Post(ctx, transport.Request{URL: s.cfg.URL}, ptelemetry.BatchContentType, body)
	status := 0
	if err == nil {
		status = resp.Status
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	s.mu.Lock()
	switch {
	case err != nil || status == transport.StatusTooManyRequests || status >= 500 || status < 200:
		s.stats.Failures++
		s.mu.Unlock()
		return false
	case status < 300:
		s.queue = s.queue[n:]
		s.stats.Sent += n
		s.stats.Queued = len(s.queue)
		s.mu.Unlock()
		return true
	}
	refused := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.stats.Refused += n
	s.stats.Queued = len(s.queue)
	s.mu.Unlock()
	if s.cfg.OnRefused != nil {
		s.cfg.OnRefused(refused, &RefusedError{Status: status})
	}
	return true
}
