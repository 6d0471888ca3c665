package server

import (
	"context"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// batchStamper is a store that records many check-ins in one transaction;
// store.DB implements it.
type batchStamper interface {
	CheckInBatch(ctx context.Context, stamps map[string]delivery.Attributes) error
}

// checkInUpserter is a store that records many check-ins in multi-row
// upserts, registering devices that have no row; store.DB implements it.
type checkInUpserter interface {
	UpsertCheckIns(ctx context.Context, cs []delivery.Device) error
}

// stamps collects the check-ins stamp would write and flushes them every
// Config.StampBatch in one transaction, so a burst of first check-ins
// (after a restart, or devices new to this replica) costs one commit per
// interval instead of one per device, and the check-in does not wait for
// it. A failed flush is logged and its devices are stamped again at their
// next check-in.
type stamps struct {
	mu      sync.Mutex
	pending map[*cachedDevice]delivery.Attributes
	once    sync.Once
}

// add queues d's stamp and starts the flusher on first use.
func (s *Server) queueStamp(d *cachedDevice, attrs delivery.Attributes) {
	st := &s.stamps
	st.once.Do(func() {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.flushStamps()
		}()
	})
	st.mu.Lock()
	if st.pending == nil {
		st.pending = map[*cachedDevice]delivery.Attributes{}
	}
	st.pending[d] = attrs
	st.mu.Unlock()
}

// flushStamps writes the queued stamps every StampBatch until the server
// closes, then once more.
func (s *Server) flushStamps() {
	t := time.NewTicker(s.cfg.StampBatch)
	defer t.Stop()
	for {
		select {
		case <-s.bgCtx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s.flushOnce(ctx)
			cancel()
			return
		case <-t.C:
			// Not bgCtx: a flush under way when the server closes must
			// finish, or its stamps would be lost on a clean shutdown.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(s.bgCtx), 10*time.Second)
			s.flushOnce(ctx)
			cancel()
		}
	}
}

func (s *Server) flushOnce(ctx context.Context) {
	st := &s.stamps
	st.mu.Lock()
	batch := st.pending
	st.pending = nil
	st.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	var err error
	if u, ok := s.store.(checkInUpserter); ok {
		// One multi-row upsert per thousand devices; it re-creates the
		// row of a device authenticated by its credential alone.
		rows := make([]delivery.Device, 0, len(batch))
		for d, a := range batch {
			rows = append(rows, delivery.Device{ID: d.id, CredentialHash: d.hash, Attributes: a})
		}
		err = u.UpsertCheckIns(ctx, rows)
	} else {
		byID := make(map[string]delivery.Attributes, len(batch))
		for d, a := range batch {
			byID[d.id] = a
		}
		err = s.store.(batchStamper).CheckInBatch(ctx, byID)
	}
	if err != nil {
		s.log.Warn("check-in stamps not recorded; retried at the devices' next check-in", "devices", len(batch), "err", err)
		for d := range batch {
			d.mu.Lock()
			d.stamped = time.Time{}
			d.mu.Unlock()
		}
	}
}
