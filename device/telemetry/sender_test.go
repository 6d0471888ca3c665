package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/device/transport"
	ptelemetry "github.com/sextant-ml/sextant/privacy/telemetry"
)

// fakePoster records batches and answers with the next status of a script
// (then 204).
type fakePoster struct {
	mu      sync.Mutex
	script  []int
	batches [][][]byte
	at      []time.Time
	headers []map[string]string
}

func (p *fakePoster) Post(ctx context.Context, req transport.Request, ct string, body []byte) (*transport.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ct != ptelemetry.BatchContentType {
		return nil, fmt.Errorf("content type %q", ct)
	}
	status := 204
	if len(p.script) > 0 {
		status, p.script = p.script[0], p.script[1:]
	}
	if status == 0 {
		return nil, errors.New("network down")
	}
	var reps [][]byte
	if err := ptelemetry.SplitBatch(body, 1<<20, 1<<20, func(b []byte) error {
		reps = append(reps, append([]byte(nil), b...))
		return nil
	}); err != nil {
		return nil, err
	}
	p.batches = append(p.batches, reps)
	p.at = append(p.at, time.Now())
	p.headers = append(p.headers, req.Header)
	return &transport.Response{Status: status, ContentLength: -1}, nil
}

func report(i int) []byte {
	return ptelemetry.AppendReport(nil, &ptelemetry.Report{Stream: "app_opened", Mechanism: ptelemetry.None, Item: fmt.Appendf(nil, "screen-%d", i)})
}

// TestSenderBatchesAfterRandomDelay: reports wait a random delay within
// bounds, then leave in one batch with no credential or identifier; a
// different seed draws a different delay.
func TestSenderBatchesAfterRandomDelay(t *testing.T) {
	delays := map[time.Duration]bool{}
	for seed := range uint64(3) {
		synctest.Test(t, func(t *testing.T) {
			p := &fakePoster{}
			s, err := New(Config{Poster: p, URL: "https://x/v1/telemetry", Rand: rand.New(rand.NewPCG(seed, 9)),
				MinDelay: time.Minute, MaxDelay: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			start := time.Now()
			done := make(chan error)
			go func() { done <- s.Run(ctx) }()
			for i := range 10 {
				if err := s.Enqueue(report(i)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Minute - time.Second)
			synctest.Wait()
			if len(p.batches) != 0 {
				t.Fatal("sent before the minimum delay")
			}
			time.Sleep(time.Hour)
			synctest.Wait()
			if len(p.batches) != 1 || len(p.batches[0]) != 10 {
				t.Fatalf("batches %d, want one of 10", len(p.batches))
			}
			for i, r := range p.batches[0] {
				if !bytes.Equal(r, report(i)) {
					t.Errorf("report %d altered or reordered", i)
				}
			}
			if len(p.headers[0]) != 0 {
				t.Errorf("batch carried headers %v", p.headers[0])
			}
			d := p.at[0].Sub(start)
			if d < time.Minute || d >= time.Hour {
				t.Errorf("delay %v outside [1m, 1h)", d)
			}
			delays[d] = true
			if st := s.Stats(); st.Sent != 10 || st.Queued != 0 {
				t.Errorf("stats %+v", st)
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		})
	}
	if len(delays) < 2 {
		t.Errorf("three seeds drew the same delay: %v", delays)
	}
}

// TestSenderQueueFullRefuses: the bounded queue refuses with a typed error
// and keeps what it holds.
func TestSenderQueueFullRefuses(t *testing.T) {
	s, err := New(Config{Poster: &fakePoster{}, URL: "u", Rand: rand.New(rand.NewPCG(1, 1)), MaxQueue: 3, MaxBatchBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Enqueue(report(i)); err != nil {
			t.Fatal(err)
		}
	}
	var full *QueueFullError
	if err := s.Enqueue(report(3)); !errors.As(err, &full) || full.Max != 3 {
		t.Fatalf("4th report: %v, want *QueueFullError", err)
	}
	if err := s.Enqueue(make([]byte, 100)); !errors.Is(err, ErrReportTooLarge) {
		t.Fatalf("oversize report: %v", err)
	}
	if got := s.Pending(); len(got) != 3 || !bytes.Equal(got[2], report(2)) {
		t.Fatalf("pending %d", len(got))
	}
}

// TestSenderRetriesAndReportsRefusals: network errors, 429 and 5xx keep the
// batch for a later, longer delay; a final 4xx removes it and tells the
// host; large queues leave in several bounded batches.
func TestSenderRetriesAndReportsRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakePoster{script: []int{0, 429, 503, 204, 400}}
		var refused [][]byte
		var refusal error
		s, err := New(Config{Poster: p, URL: "u", Rand: rand.New(rand.NewPCG(4, 2)), MaxDelay: time.Minute, MaxBatch: 4,
			OnRefused: func(r [][]byte, err error) { refused, refusal = r, err }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		for i := range 6 {
			s.Enqueue(report(i))
		}
		time.Sleep(48 * time.Hour)
		synctest.Wait()
		// The network error sent nothing; 429, 503, 204 saw reports 0–3; 400 saw 4–5.
		if len(p.batches) != 4 {
			t.Fatalf("%d batches reached the server, want 4", len(p.batches))
		}
		for _, b := range p.batches[:3] {
			if len(b) != 4 || !bytes.Equal(b[0], report(0)) {
				t.Fatalf("retried batch %d reports", len(b))
			}
		}
		var re *RefusedError
		if !errors.As(refusal, &re) || re.Status != 400 || len(refused) != 2 || !bytes.Equal(refused[1], report(5)) {
			t.Fatalf("refusal %v with %d reports", refusal, len(refused))
		}
		if st := s.Stats(); st.Sent != 4 || st.Refused != 2 || st.Queued != 0 || st.Failures != 3 {
			t.Errorf("stats %+v", st)
		}
		// Backoff: the gap before the success exceeds MaxDelay's range
		// only if it doubled; at least it is within 8 minutes.
		if gap := p.at[2].Sub(p.at[1]); gap > 4*time.Minute {
			t.Errorf("gap after one more failure %v exceeds its bound", gap)
		}
	})
}
