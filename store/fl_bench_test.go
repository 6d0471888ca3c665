package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/internal/pgtest"
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
