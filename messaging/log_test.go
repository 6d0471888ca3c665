package messaging

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestLogReplay: a log stream keeps its messages after they are read, so
// two readers each replay all of them, in order, once (a republished id
// is dropped); a reader that stops resumes from a sequence; Bounds tells
// when a reader has caught up.
func TestLogReplay(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			ctx := t.Context()
			t.Cleanup(func() { b.Delete(context.Background(), "log") })
			if err := b.Declare(ctx, Stream{Name: "log", MaxAge: time.Hour, Log: true}); err != nil {
				t.Fatal(err)
			}
			if first, last, err := b.Bounds(ctx, "log"); err != nil || first != 1 || last != 0 {
				t.Fatalf("empty log: bounds %d, %d, %v", first, last, err)
			}
			ids := []string{"a", "b", "a", "c", "d", "e", "f"}
			for i, id := range ids {
				if err := b.Publish(ctx, "log", id, []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			read := func(from uint64, stopAfter int) []Msg {
				var got []Msg
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				stop := errors.New("enough")
				err := b.Replay(cctx, "log", from, 2, func(_ context.Context, ms []Msg) error {
					if len(ms) > 2 {
						t.Errorf("batch of %d, want ≤ 2", len(ms))
					}
					got = append(got, ms...)
					if len(got) >= stopAfter {
						return stop
					}
					return nil
				})
				if !errors.Is(err, stop) {
					t.Fatalf("replay: %v (read %d)", err, len(got))
				}
				return got
			}
			for reader := range 2 {
				got := read(0, 6)
				want := []string{"a", "b", "c", "d", "e", "f"}
				for i, m := range got {
					if m.ID != want[i] || m.Seq != uint64(i+1) || time.Since(m.Time) > time.Minute {
						t.Fatalf("reader %d: message %d is %+v, want %s at %d", reader, i, m, want[i], i+1)
					}
				}
			}
			if got := read(4, 3); got[0].Seq != 4 || got[0].ID != "d" || got[2].ID != "f" {
				t.Fatalf("resumed at 4: %+v", got)
			}
			if first, last, err := b.Bounds(ctx, "log"); err != nil || first != 1 || last != 6 {
				t.Fatalf("bounds %d, %d, %v", first, last, err)
			}
			s, err := b.js.Stream(ctx, b.streamName("log"))
			if err != nil {
				t.Fatal(err)
			}
			si, _ := s.Info(ctx)
			if si.Config.Retention != jetstream.LimitsPolicy || si.State.Msgs != 6 {
				t.Fatalf("log stream %+v holds %d", si.Config.Retention, si.State.Msgs)
			}
		})
	}
}
