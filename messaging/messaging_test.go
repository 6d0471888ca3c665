package messaging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// externalNATS is this machine's NATS server with JetStream;
// SEXTANT_TEST_NATS overrides it.
const externalNATS = "nats://127.0.0.1:4222"

// backend opens a bus for a test, and a way to open another connection to
// the same server (a second process's view: nothing shared but the
// server).
type backend struct {
	name string
	open func(t *testing.T) *Bus
}

func backends(t *testing.T) []backend {
	prefix := "sxtest" + randHex(4)
	dir := t.TempDir()
	var embedded *Bus
	var once sync.Once
	ext := os.Getenv("SEXTANT_TEST_NATS")
	if ext == "" {
		ext = externalNATS
	}
	return []backend{
		{"embedded", func(t *testing.T) *Bus {
			once.Do(func() {
				var err error
				embedded, err = Open(t.Context(), Config{Dir: dir, Prefix: prefix})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(embedded.Close)
			})
			// Another client of the same embedded server.
			nc, err := nats.Connect("", nats.InProcessServer(embedded.ns))
			if err != nil {
				t.Fatal(err)
			}
			js, _ := jetstream.New(nc)
			b := &Bus{prefix: prefix, log: embedded.log, nc: nc, js: js}
			t.Cleanup(b.Close)
			return b
		}},
		{"external", func(t *testing.T) *Bus {
			b, err := Open(t.Context(), Config{URL: ext, Prefix: prefix})
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("NATS JetStream at %s is required in CI: %v", ext, err)
				}
				t.Skipf("NATS JetStream unreachable at %s (set SEXTANT_TEST_NATS): %v", ext, err)
			}
			t.Cleanup(func() {
				for _, s := range []string{"t", "crash"} {
					b.Delete(context.Background(), s)
				}
				b.Close()
			})
			return b
		}},
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestPublishConsume: messages arrive once, in order, a republished id is
// dropped, and acknowledged messages leave the work queue.
func TestPublishConsume(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			ctx := t.Context()
			if err := b.Declare(ctx, Stream{Name: "t", MaxAge: time.Hour}); err != nil {
				t.Fatal(err)
			}
			for i, id := range []string{"a", "b", "a", "c"} {
				if err := b.Publish(ctx, "t", id, []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			cctx, cancel := context.WithCancel(ctx)
			var got []Msg
			err := b.Consume(cctx, "t", "agg", ConsumeOptions{Batch: 8}, func(_ context.Context, ms []Msg) error {
				got = append(got, ms...)
				if len(got) >= 3 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].ID != "a" || string(got[0].Data) != "0" || got[1].ID != "b" || got[2].ID != "c" ||
				!(got[0].Seq < got[1].Seq && got[1].Seq < got[2].Seq) {
				t.Fatalf("got %+v", got)
			}
			info, err := b.js.Stream(ctx, b.streamName("t"))
			if err != nil {
				t.Fatal(err)
			}
			si, _ := info.Info(ctx)
			if si.Config.MaxAge != time.Hour || si.Config.Retention != jetstream.WorkQueuePolicy {
				t.Fatalf("stream config %+v", si.Config)
			}
			if si.State.Msgs != 0 {
				t.Fatalf("%d messages left after their ack", si.State.Msgs)
			}
		})
	}
}

// ledger is a consumer's durable state: what it has counted and the
// sequences folded in, committed together.
type ledger struct {
	mu      sync.Mutex
	seen    Ledger
	counted map[string]int
}

// commit folds the messages not yet counted in, atomically.
func (l *ledger) commit(ms []Msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms {
		if l.seen.Seen(m.Seq) {
			continue // committed before a crash; this is its redelivery
		}
		l.counted[m.ID]++
		l.seen.Add(m.Seq)
	}
}

// TestRedeliveryAfterConsumerCrash: a consumer that dies after committing
// but before acknowledging, and one that dies after receiving but before
// committing, neither lose nor double-count a message: JetStream
// redelivers to the next consumer, which skips what was committed.
func TestRedeliveryAfterConsumerCrash(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			ctx := t.Context()
			pub := be.open(t)
			if err := pub.Declare(ctx, Stream{Name: "crash", MaxAge: time.Hour}); err != nil {
				t.Fatal(err)
			}
			const n = 50
			for i := range n {
				if err := pub.Publish(ctx, "crash", fmt.Sprint("m", i), nil); err != nil {
					t.Fatal(err)
				}
			}
			l := &ledger{counted: map[string]int{}}
			opts := ConsumeOptions{Batch: 10, AckWait: time.Second}
			redelivered := 0
			crashed := 0 // messages in the batches the consumers died holding

			// Consumer 1 commits its first batch and dies before acking.
			c1 := be.open(t)
			c1.Consume(ctx, "crash", "agg", opts, func(ctx context.Context, ms []Msg) error {
				l.commit(ms)
				crashed += len(ms)
				c1.nc.Close() // the process is gone: no ack reaches the server
				return errors.New("crashed")
			})
			// Consumer 2 gets that batch again, then dies after receiving
			// its next batch, before committing it.
			c2 := be.open(t)
			calls := 0
			c2.Consume(ctx, "crash", "agg", opts, func(ctx context.Context, ms []Msg) error {
				calls++
				for _, m := range ms {
					if m.Redelivered {
						redelivered++
					}
				}
				if calls == 2 {
					crashed += len(ms)
					c2.nc.Close()
					return errors.New("crashed")
				}
				l.commit(ms)
				return nil
			})
			// Consumer 3 finishes the queue.
			c3 := be.open(t)
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c3.Consume(cctx, "crash", "agg", opts, func(ctx context.Context, ms []Msg) error {
				for _, m := range ms {
					if m.Redelivered {
						redelivered++
					}
				}
				l.commit(ms)
				if len(l.counted) == n {
					cancel()
				}
				return nil
			})
			for i := range n {
				if c := l.counted[fmt.Sprint("m", i)]; c != 1 {
					t.Fatalf("message m%d counted %d times", i, c)
				}
			}
			// A pull may return fewer than Batch messages (the server
			// answers with what it has ready), so the crashed batches' sizes
			// are counted, not assumed to be 2 × 10.
			if crashed < 2 || redelivered < crashed {
				t.Fatalf("%d redeliveries, want the two crashed batches' %d", redelivered, crashed)
			}
		})
	}
}
