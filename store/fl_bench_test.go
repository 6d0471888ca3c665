package store

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/internal/pgtest"
	"github.com/sextant-ml/sextant/lease"
)

// BenchmarkFLCheckInPostgres: devices checking in to one round attempt
// through the board at once (every check-in takes the round row's lock,
// so a task's check-ins are serialised in the database).
func BenchmarkFLCheckInPostgres(b *testing.B) {
	db, err := Open(b.Context(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	if err := db.PublishFLRound(b.Context(), FLRound{Task: "t", Attempt: 1, Open: true, SelectionEnd: now.Add(time.Hour), View: []byte(`{}`)}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.CheckInFL(b.Context(), "t", 1, fmt.Sprint("d", n.Add(1)), "h", now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFLPutMessagesPostgres: the leader putting one secure-
// aggregation step's messages (1 KiB each) to 2,000 seats, fenced, as
// Service.prepareStep does at every step; each op is a fresh step.
func BenchmarkFLPutMessagesPostgres(b *testing.B) {
	const seats, size = 2000, 1024
	db, err := Open(b.Context(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.db.ExecContext(b.Context(), `INSERT INTO leases (name, epoch, holder, acquired_us) VALUES ('leader', 1, 'r', 0)`); err != nil {
		b.Fatal(err)
	}
	ctx := lease.WithFence(b.Context(), lease.Fence{Name: "leader", Epoch: 1})
	if err := db.PublishFLRound(ctx, FLRound{Task: "t", Attempt: 1, View: []byte(`{}`)}); err != nil {
		b.Fatal(err)
	}
	msgs := make(map[uint32][]byte, seats)
	for i := 1; i <= seats; i++ {
		body := make([]byte, size)
		rand.Read(body)
		msgs[uint32(i)] = body
	}
	b.SetBytes(seats * size)
	for i := 0; b.Loop(); i++ {
		if err := db.PutFLMessages(ctx, "t", 1, i, msgs); err != nil {
			b.Fatal(err)
		}
		// Keep the table at one step's rows, outside the timing.
		b.StopTimer()
		if _, err := db.db.ExecContext(b.Context(), `DELETE FROM fl_messages WHERE task = 't' AND step = $1`, i); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkFLGonePostgres: the leader's poll for the devices that left
// while a step waits (every 200 ms), with 5,000 seats of which 50 left:
// reading every seat and keeping the gone ones (AllSeats, how the poll
// was made before FLGoneSeats) against reading only those (GoneOnly).
func BenchmarkFLGonePostgres(b *testing.B) {
	db, err := Open(b.Context(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.PublishFLRound(b.Context(), FLRound{Task: "t", Attempt: 1, View: []byte(`{}`)}); err != nil {
		b.Fatal(err)
	}
	if _, err := db.db.ExecContext(b.Context(), `INSERT INTO fl_seats (task, attempt, id, device, token_hash, gone)
		SELECT 't', 1, g, 'device-' || g, md5(g::text) || md5(g::text), CASE WHEN g % 100 = 0 THEN 1 ELSE 0 END
		FROM generate_series(1, 5000) AS g`); err != nil {
		b.Fatal(err)
	}
	b.Run("AllSeats", func(b *testing.B) {
		for b.Loop() {
			seats, err := db.FLSeats(b.Context(), "t", 1)
			if err != nil {
				b.Fatal(err)
			}
			var gone []uint32
			for _, s := range seats {
				if s.Gone {
					gone = append(gone, s.ID)
				}
			}
			if len(gone) != 50 {
				b.Fatalf("%d gone, want 50", len(gone))
			}
		}
	})
	b.Run("GoneOnly", func(b *testing.B) {
		for b.Loop() {
			gone, err := db.FLGoneSeats(b.Context(), "t", 1)
			if err != nil {
				b.Fatal(err)
			}
			if len(gone) != 50 {
				b.Fatalf("%d gone, want 50", len(gone))
			}
		}
	})
}
