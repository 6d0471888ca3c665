package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// credentialBatcher is a store that looks up many devices by credential
// hash in one query; store.DB implements it.
type credentialBatcher interface {
	DevicesByCredentials(ctx context.Context, hashes []string) (map[string]delivery.Device, error)
}

// recentDevices is a store that lists the most recently checked-in
// devices; store.DB implements it.
type recentDevices interface {
	RecentDevices(ctx context.Context, limit int, fn func(delivery.Device) bool) error
}

// maxLoadBatch bounds one coalesced lookup (store.MaxCredentialBatch).
const maxLoadBatch = 512

// deviceLoader coalesces the device cache's misses: while one lookup is at
// the database, the misses that arrive queue up and the next lookup takes
// them all in one query. A burst of first check-ins (a restart, devices new
// to this replica) then costs the database a few queries a millisecond
// rather than one per device, and no check-in waits for a free pool
// connection behind dozens of others. With nothing in flight a miss is
// looked up at once: coalescing adds no delay.
type deviceLoader struct {
	// mu guards pending and running.
	mu      sync.Mutex
	pending map[string][]chan loadResult
	running bool
	// queries counts the lookups sent to the store.
	queries atomic.Int64
}

type loadResult struct {
	dev delivery.Device
	err error
}

// loadDevice returns the device whose credential hashes to hash, from the
// store, coalescing concurrent lookups when the store supports it.
func (s *Server) loadDevice(ctx context.Context, hash string) (delivery.Device, error) {
	b, ok := s.store.(credentialBatcher)
	if !ok {
		return s.store.DeviceByCredential(ctx, hash)
	}
	l := &s.loader
	ch := make(chan loadResult, 1)
	l.mu.Lock()
	if l.pending == nil {
		l.pending = map[string][]chan loadResult{}
	}
	l.pending[hash] = append(l.pending[hash], ch)
	run := !l.running
	l.running = true
	l.mu.Unlock()
	if run {
		// A goroutine of its own drains the queue, this lookup first,
		// then whatever queued meanwhile (so no request waits on others'
		// lookups), on a context this request's cancellation does not
		// end.
		go s.runLoads(context.WithoutCancel(ctx), b)
	}
	select {
	case r := <-ch:
		return r.dev, r.err
	case <-ctx.Done():
		return delivery.Device{}, ctx.Err()
	}
}

// runLoads looks up the queued hashes, a batch at a time, until none are
// left.
func (s *Server) runLoads(ctx context.Context, b credentialBatcher) {
	l := &s.loader
	for {
		l.mu.Lock()
		if len(l.pending) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		batch := make(map[string][]chan loadResult, min(len(l.pending), maxLoadBatch))
		for h, chs := range l.pending {
			if len(batch) == maxLoadBatch {
				break
			}
			batch[h] = chs
			delete(l.pending, h)
		}
		l.mu.Unlock()

		hashes := make([]string, 0, len(batch))
		for h := range batch {
			hashes = append(hashes, h)
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		found, err := b.DevicesByCredentials(qctx, hashes)
		cancel()
		l.queries.Add(1)
		for h, chs := range batch {
			r := loadResult{err: err}
			if err == nil {
				d, ok := found[h]
				r.dev = d
				if !ok {
					r.err = delivery.Errorf(delivery.ErrNotFound, "device not found")
				}
			}
			for _, ch := range chs {
				ch <- r
			}
		}
	}
}

// prewarmDevices fills the device cache with the most recently checked-in
// devices (up to its capacity) when the store can list them, so the check-
// ins after a restart find their devices in memory. Devices already cached
// by then are left as they are.
func (s *Server) prewarmDevices(ctx context.Context) {
	rd, ok := s.store.(recentDevices)
	if !ok {
		return
	}
	start := time.Now()
	n := 0
	err := rd.RecentDevices(ctx, s.devices.max, func(d delivery.Device) bool {
		if !s.devices.putIfRoom(d.CredentialHash, d) {
			return false
		}
		n++
		return ctx.Err() == nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("device cache not pre-loaded", "loaded", n, "err", err)
		return
	}
	s.log.Info("device cache pre-loaded", "devices", n, "took", time.Since(start))
}

// putIfRoom caches d unless the cache is full (it then reports false) or
// already holds it.
func (c *deviceCache) putIfRoom(hash string, d delivery.Device) bool {
	c.mu.Lock()
	full := len(c.m) >= c.max
	c.mu.Unlock()
	if full {
		return false
	}
	c.put(hash, d)
	return true
}
