// Command load drives device check-ins against a running `sextant serve`
// from another process and reports throughput and latency percentiles,
// as the client saw them and as the server's own request histogram
// (GET /metrics) recorded them. It is bounded: it stops after -requests
// check-ins or -duration, whichever comes first.
//
// Devices are generated rows: -seed inserts -devices devices straight
// into the server's PostgreSQL database (ids load-000000001…, credential
// "load-secret-<n>", stored as its SHA-256 like any device's), so a large
// registry costs one INSERT … SELECT instead of an enrolment per device.
//
// With -rate 0 it runs closed-loop (-concurrency workers, each sending
// its next check-in when the last is answered): the throughput the server
// sustains. With -rate R it runs open-loop at R check-ins/s and measures
// each latency from the request's scheduled time, so a stalled server
// shows up in the tail instead of slowing the generator down.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// Config is one load run.
type Config struct {
	URL string
	// Devices is how many devices check in, round-robin, numbered from
	// First (default 1).
	Devices     int
	First       int
	Concurrency int
	Requests    int
	Duration    time.Duration
	// Rate, when positive, is the open-loop rate in check-ins per second.
	Rate float64
	// ServerPID, when positive, is the server's process (on this
	// machine): its CPU time over the run is reported.
	ServerPID int
	// Secret returns device n's credential (default DeviceSecret;
	// MintedSecrets for credentials that prove themselves).
	Secret func(n int) string
}

// Result is what a run measured.
type Result struct {
	Sent, OK int
	// Status counts the non-200 answers by status (0: transport error).
	Status  map[int]int
	Elapsed time.Duration
	// Latencies are the client-side latencies, sorted.
	Latencies []time.Duration
	// Server is the server's histogram of check-ins over the run (nil if
	// /metrics was not readable).
	Server *Histogram
	// FirstError is a transport error's text, if any occurred.
	FirstError string
	// ServerCPU is the server process's CPU time over the run (0 if
	// unknown).
	ServerCPU time.Duration
	// Dials is how many connections the run opened: Concurrency when
	// the server kept every one alive, more when it closed some.
	Dials int
	// GeneratorCPU is the generator's own CPU time over the run (set by
	// the command; 0 if unknown).
	GeneratorCPU time.Duration
	// ServerWait is how long the server's threads were runnable but
	// waiting for a CPU over the run (0 if unknown): high when other
	// processes share its core.
	ServerWait time.Duration
}

// Throughput is answered check-ins per second.
func (r *Result) Throughput() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// Quantile returns the client-side latency at q in [0, 1].
func (r *Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.Latencies)))) - 1
	return r.Latencies[max(0, min(i, len(r.Latencies)-1))]
}

// DeviceID and DeviceSecret name generated device n (from 1).
func DeviceID(n int) string     { return fmt.Sprintf("load-%09d", n) }
func DeviceSecret(n int) string { return fmt.Sprintf("load-secret-%d", n) }

// MintedSecrets returns device n's credential as the server's
// registration would issue it: minted by the director key's credential
// authority (signing.DeviceCredentials), with a nonce derived from n so
// that every run, and the seeded hash, agree. Credentials of devices
// first…first+count-1 are made up front, so the generator spends no CPU
// on them during the run.
func MintedSecrets(c *signing.DeviceCredentials, first, count int) (func(n int) string, error) {
	mint := func(n int) (string, error) {
		nonce := sha256.Sum256([]byte("load-nonce-" + strconv.Itoa(n)))
		return c.Mint(DeviceID(n), [16]byte(nonce[:16]))
	}
	pre := make([]string, max(0, min(count, 2_000_000)))
	for i := range pre {
		var err error
		if pre[i], err = mint(first + i); err != nil {
			return nil, err
		}
	}
	return func(n int) string {
		if i := n - first; i >= 0 && i < len(pre) {
			return pre[i]
		}
		s, _ := mint(n) // DeviceID(n) is always a valid device id
		return s
	}, nil
}

// SeedSecrets inserts devices 1…n with the credentials secret gives into
// the PostgreSQL database at dsn (COPY into a temporary table, then one
// INSERT … ON CONFLICT DO NOTHING); existing ones are kept.
func SeedSecrets(ctx context.Context, dsn string, n int, secret func(int) string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE load_seed (id TEXT, credential_hash TEXT) ON COMMIT PRESERVE ROWS`); err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	i := 0
	row := make([]any, 2)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"load_seed"}, []string{"id", "credential_hash"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			row[0], row[1] = DeviceID(i), delivery.HashSecret(secret(i))
			return row, nil
		})); err != nil {
		return 0, fmt.Errorf("seed: copy: %w", err)
	}
	tag, err := conn.Exec(ctx, `INSERT INTO devices (id, credential_hash, attributes, registered_us, last_checkin_us)
		SELECT id, credential_hash, '{}', $1, 0 FROM load_seed ON CONFLICT DO NOTHING`, time.Now().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Seed inserts devices 1…n into the PostgreSQL database at dsn (the
// server's, after its migrations ran); existing ones are kept.
func Seed(ctx context.Context, dsn string, n int) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, `INSERT INTO devices (id, credential_hash, attributes, registered_us, last_checkin_us)
		SELECT 'load-' || lpad(i::text, 9, '0'), encode(sha256(convert_to('load-secret-' || i, 'UTF8')), 'hex'),
			'{}', $2, 0
		FROM generate_series(1, $1::bigint) AS i
		ON CONFLICT DO NOTHING`, n, time.Now().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	return tag.RowsAffected(), nil
}

// checkInBody is an unchanged device's check-in.
var checkInBody = []byte(`{"installed":{},"runtime_version":"1.0.0","device_class":"high","os":"android 14","app_version":"5.2.0","region":"NL","locale":"nl-NL"}`)

// CheckInRoute is the server's route pattern of check-ins.
const CheckInRoute = "POST /v1/devices/{id}/checkin"

// Run drives check-ins as cfg says until it is done or ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Devices <= 0 || cfg.Concurrency <= 0 || cfg.Requests <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("load: devices, concurrency, requests and duration must be positive")
	}
	if cfg.Secret == nil {
		cfg.Secret = DeviceSecret
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.Concurrency, MaxIdleConnsPerHost: cfg.Concurrency, IdleConnTimeout: time.Minute}}
	before, _ := ScrapeHistogram(ctx, client, cfg.URL, CheckInRoute)
	var cpu0, wait0 time.Duration
	var waitErr error
	if cfg.ServerPID > 0 {
		var err error
		if cpu0, err = processCPU(cfg.ServerPID); err != nil {
			return nil, err
		}
		wait0, waitErr = processRunDelay(cfg.ServerPID)
	}
	end := time.Now().Add(cfg.Duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	// over checks the clock itself: under load the context's timer may
	// fire late, while connection deadlines (the same instant) already
	// fail every write.
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(end) }

	var next atomic.Int64
	start := time.Now()
	// sched returns request i's index and scheduled time, false when the
	// run is over.
	var jobs chan int64
	if cfg.Rate > 0 {
		jobs = make(chan int64, cfg.Concurrency)
		go func() {
			defer close(jobs)
			for i := int64(0); i < int64(cfg.Requests); i++ {
				at := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
				if d := time.Until(at); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				}
				select {
				case jobs <- i:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	sched := func() (int64, time.Time, bool) {
		if jobs != nil {
			i, ok := <-jobs
			if !ok {
				return 0, time.Time{}, false
			}
			return i, start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second))), true
		}
		i := next.Add(1) - 1
		if i >= int64(cfg.Requests) || over() {
			return 0, time.Time{}, false
		}
		return i, time.Now(), true
	}

	type part struct {
		lat      []time.Duration
		status   map[int]int
		sent     int
		dials    int
		firstErr error
	}
	parts := make([]part, cfg.Concurrency)
	var wg sync.WaitGroup
	if _, err := newRawConn(cfg.URL); err != nil {
		return nil, err
	}
	for w := range cfg.Concurrency {
		wg.Go(func() {
			conn, _ := newRawConn(cfg.URL)
			conn.secret = cfg.Secret
			p := &parts[w]
			defer func() { p.dials = conn.dials; conn.close() }()
			p.status = map[int]int{}
			p.lat = make([]time.Duration, 0, cfg.Requests/cfg.Concurrency+1)
			for {
				i, at, ok := sched()
				if !ok {
					return
				}
				n := int(i%int64(cfg.Devices)) + max(cfg.First, 1)
				code, err := conn.checkIn(ctx, n)
				if code == 0 && over() {
					return // cut off by the deadline: not a server error
				}
				if err != nil && p.firstErr == nil {
					p.firstErr = err
				}
				p.sent++
				if code == http.StatusOK {
					p.lat = append(p.lat, time.Since(at))
				} else {
					p.status[code]++
				}
			}
		})
	}
	wg.Wait()
	res := &Result{Elapsed: time.Since(start), Status: map[int]int{}}
	for _, p := range parts {
		res.Sent += p.sent
		res.Dials += p.dials
		res.OK += len(p.lat)
		res.Latencies = append(res.Latencies, p.lat...)
		for c, n := range p.status {
			res.Status[c] += n
		}
		if res.FirstError == "" && p.firstErr != nil {
			res.FirstError = p.firstErr.Error()
		}
	}
	if cfg.ServerPID > 0 {
		if cpu1, err := processCPU(cfg.ServerPID); err == nil {
			res.ServerCPU = cpu1 - cpu0
		}
		if wait1, err := processRunDelay(cfg.ServerPID); err == nil && waitErr == nil {
			res.ServerWait = wait1 - wait0
		}
	}
	slices.Sort(res.Latencies)
	if after, err := ScrapeHistogram(context.Background(), client, cfg.URL, CheckInRoute); err == nil {
		if before == nil {
			// No check-in had been served when the run began.
			before = &Histogram{Counts: make([]float64, len(after.Counts))}
		}
		res.Server = after.Sub(before)
	}
	return res, nil
}

// Histogram is a Prometheus histogram's cumulative buckets.
type Histogram struct {
	// Bounds are the upper bounds in seconds (the last is +Inf); Counts
	// the cumulative counts.
	Bounds []float64
	Counts []float64
}

// Sub returns h minus an earlier scrape of it.
func (h *Histogram) Sub(earlier *Histogram) *Histogram {
	out := &Histogram{Bounds: h.Bounds, Counts: slices.Clone(h.Counts)}
	if len(earlier.Counts) == len(h.Counts) {
		for i := range out.Counts {
			out.Counts[i] -= earlier.Counts[i]
		}
	}
	return out
}

// Total is the number of observations.
func (h *Histogram) Total() float64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// Quantile estimates the q quantile by linear interpolation within its
// bucket, as Prometheus's histogram_quantile does; +Inf if it falls in
// the last bucket.
func (h *Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, prev := 0.0, 0.0
	for i, c := range h.Counts {
		if c >= rank {
			if math.IsInf(h.Bounds[i], 1) {
				return math.Inf(1)
			}
			if c == prev {
				return h.Bounds[i]
			}
			return lower + (h.Bounds[i]-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = h.Bounds[i], c
	}
	return math.Inf(1)
}

// ScrapeHistogram reads the request-duration histogram of route from the
// server's /metrics.
func ScrapeHistogram(ctx context.Context, c *http.Client, base, route string) (*Histogram, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return ParseHistogram(io.LimitReader(resp.Body, 64<<20), "sextant_http_request_duration_seconds", route)
}

// ParseHistogram extracts one labelled histogram from Prometheus text
// exposition.
func ParseHistogram(r io.Reader, name, route string) (*Histogram, error) {
	h := &Histogram{}
	prefix := name + `_bucket{`
	want := `route="` + route + `"`
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, want) {
			continue
		}
		_, rest, ok := strings.Cut(line, `le="`)
		if !ok {
			continue
		}
		le, rest, ok := strings.Cut(rest, `"`)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		bound, err1 := strconv.ParseFloat(le, 64)
		count, err2 := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("metrics: bad bucket line %q", line)
		}
		h.Bounds = append(h.Bounds, bound)
		h.Counts = append(h.Counts, count)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(h.Bounds) == 0 {
		return nil, fmt.Errorf("metrics: no %s histogram for route %q", name, route)
	}
	return h, nil
}
