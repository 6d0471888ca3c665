// Package messaging carries the server's asynchronous traffic (telemetry
// reports; later health reports and federated uploads) over NATS
// JetStream, server side only. By default it runs a NATS server embedded
// in the process, with no network listener and its JetStream store on
// local disk; at scale it connects to an external NATS cluster instead.
// Either way the code path past Open is the same.
//
// Streams are work queues: a message is removed once a consumer has
// acknowledged it, and in any case after the stream's MaxAge. Consumers
// are durable and acknowledge explicitly, after the handler has committed
// its effect; a consumer that crashes before acknowledging gets the
// messages again. Handlers make that safe with idempotency keys: every
// message carries its stream sequence (unique and increasing in its
// stream) and the publisher's message ID (which JetStream also uses to
// drop a republished duplicate within the stream's duplicate window).
package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures Open.
type Config struct {
	// URL is an external NATS server ("nats://host:4222", comma-separated
	// for a cluster) with JetStream enabled; "" runs an embedded server.
	URL string
	// Dir is the embedded server's JetStream store (ignored with URL).
	Dir string
	// Prefix namespaces this deployment's streams and subjects on a shared
	// server (default "sextant").
	Prefix string
	// Logger receives connection events; nil means slog.Default().
	Logger *slog.Logger
}

// Bus is a connection to JetStream. It is safe for concurrent use.
type Bus struct {
	prefix string
	log    *slog.Logger
	ns     *server.Server // nil when external
	nc     *nats.Conn
	js     jetstream.JetStream
}

// Open starts the embedded server or connects to cfg.URL.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	b := &Bus{prefix: cfg.Prefix, log: cfg.Logger}
	if b.prefix == "" {
		b.prefix = "sextant"
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if !validToken(b.prefix) {
		return nil, fmt.Errorf("messaging: prefix %q: want letters, digits, _ or -", b.prefix)
	}
	opts := []nats.Option{nats.Name("sextant"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("messaging: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { b.log.Info("messaging: reconnected") }),
	}
	url := cfg.URL
	if url == "" {
		if cfg.Dir == "" {
			return nil, errors.New("messaging: the embedded server needs a store directory")
		}
		ns, err := server.NewServer(&server.Options{ServerName: "sextant-embedded", DontListen: true,
			JetStream: true, StoreDir: cfg.Dir, NoSigs: true, NoLog: true})
		if err != nil {
			return nil, fmt.Errorf("messaging: embedded server: %w", err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			ns.Shutdown()
			return nil, errors.New("messaging: embedded server did not start within 10 s")
		}
		b.ns = ns
		opts = append(opts, nats.InProcessServer(ns))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdown()
		return nil, fmt.Errorf("messaging: connect %s: %w", b.where(url), err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("messaging: jetstream: %w", err)
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("messaging: JetStream at %s: %w", b.where(url), err)
	}
	return b, nil
}

func (b *Bus) where(url string) string {
	if url == "" {
		return "embedded server"
	}
	return url
}

// Embedded reports whether the bus runs its own server.
func (b *Bus) Embedded() bool { return b.ns != nil }

// Close drains the connection and stops the embedded server, if any.
func (b *Bus) Close() {
	if b.nc != nil {
		b.nc.Drain()
		b.nc.Close()
	}
	b.shutdown()
}

func (b *Bus) shutdown() {
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
}

// Stream is a stream of one kind of message: a work queue by default, or
// a log.
type Stream struct {
	// Name is unique within the bus (letters, digits, _ and -).
	Name string
	// MaxAge removes a message this long after it was stored even when no
	// consumer has taken it; zero keeps it until acknowledged (a log:
	// forever).
	MaxAge time.Duration
	// Log keeps every message until MaxAge instead of removing it once a
	// consumer acknowledged it, so any number of readers can Replay the
	// stream from its start (a state rebuilt in memory after a crash).
	// A log stream cannot be Consumed.
	Log bool
}

func (b *Bus) streamName(s string) string { return strings.ToUpper(b.prefix) + "_" + s }
func (b *Bus) subject(s string) string    { return b.prefix + "." + s }

// Declare creates the stream or updates its retention.
func (b *Bus) Declare(ctx context.Context, s Stream) error {
	if !validToken(s.Name) {
		return fmt.Errorf("messaging: stream name %q: want letters, digits, _ or -", s.Name)
	}
	dup := 2 * time.Minute
	if s.MaxAge > 0 && s.MaxAge < dup {
		dup = s.MaxAge
	}
	retention := jetstream.WorkQueuePolicy
	if s.Log {
		retention = jetstream.LimitsPolicy
	}
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       b.streamName(s.Name),
		Subjects:   []string{b.subject(s.Name)},
		Retention:  retention,
		Storage:    jetstream.FileStorage,
		MaxAge:     s.MaxAge,
		Duplicates: dup,
	})
	if err != nil {
		return fmt.Errorf("messaging: declare %s: %w", s.Name, err)
	}
	return nil
}

// Delete removes a stream and its messages (tests on a shared server,
// retired message kinds).
func (b *Bus) Delete(ctx context.Context, stream string) error {
	if err := b.js.DeleteStream(ctx, b.streamName(stream)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("messaging: delete %s: %w", stream, err)
	}
	return nil
}

// Publish stores data in stream under the idempotency key id and returns
// once JetStream has persisted it; publishing the same id again within
// the duplicate window (two minutes, or MaxAge when shorter) stores
// nothing.
func (b *Bus) Publish(ctx context.Context, stream, id string, data []byte) error {
	if _, err := b.js.Publish(ctx, b.subject(stream), data, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("messaging: publish to %s: %w", stream, err)
	}
	return nil
}

// Msg is one delivered message.
type Msg struct {
	// Seq is the message's sequence in its stream: unique, increasing in
	// publish order, the same on every redelivery (see Ledger).
	Seq uint64
	// ID is the publisher's idempotency key.
	ID   string
	Data []byte
	// Redelivered says JetStream delivered it before without an ack.
	Redelivered bool
	// Time is when the stream stored it (the server's clock).
	Time time.Time
}

// ConsumeOptions tune Consume.
type ConsumeOptions struct {
	// Batch is the most messages handed to one handler call, and the most
	// unacknowledged at once (default 256).
	Batch int
	// AckWait is how long a delivered message may stay unacknowledged
	// before JetStream redelivers it (default 30 s).
	AckWait time.Duration
}

// Consume delivers stream's messages to handle through the durable
// consumer named durable until ctx ends, a batch at a time, in stream
// order, except that redelivered messages come in no particular order.
// When handle returns nil the batch is acknowledged (and removed from the
// stream); when it fails the batch is negatively acknowledged and
// delivered again. A crash before the acknowledgement also delivers the
// batch again, after AckWait: handle must commit each message's effect at
// most once, for example by committing a Ledger of Msg.Seq with it.
func (b *Bus) Consume(ctx context.Context, stream, durable string, o ConsumeOptions, handle func(context.Context, []Msg) error) error {
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if !validToken(durable) {
		return fmt.Errorf("messaging: consumer name %q: want letters, digits, _ or -", durable)
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.streamName(stream), jetstream.ConsumerConfig{
		Durable:       durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxAckPending: o.Batch,
		FilterSubject: b.subject(stream),
	})
	if err != nil {
		return fmt.Errorf("messaging: consumer %s on %s: %w", durable, stream, err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(o.Batch, jetstream.FetchMaxWait(time.Second))
		if b.nc.IsClosed() {
			return fmt.Errorf("messaging: consume %s: %w", stream, nats.ErrConnectionClosed)
		}
		if err != nil {
			b.log.Warn("messaging: fetch", "stream", stream, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		var raw []jetstream.Msg
		var msgs []Msg
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				m.Term() // not a JetStream message; cannot be ordered
				continue
			}
			raw = append(raw, m)
			msgs = append(msgs, Msg{Seq: md.Sequence.Stream, ID: m.Headers().Get(jetstream.MsgIDHeader),
				Data: m.Data(), Redelivered: md.NumDelivered > 1, Time: md.Timestamp})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			b.log.Warn("messaging: fetch", "stream", stream, "err", err)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := handle(ctx, msgs); err != nil {
			b.log.Warn("messaging: handler failed; batch will be redelivered", "stream", stream, "messages", len(msgs), "err", err)
			for _, m := range raw {
				m.NakWithDelay(time.Second)
			}
			continue
		}
		// The effect is committed: ack even if ctx ended meanwhile. An
		// ack lost now only means a redelivery the handler recognises.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		for _, m := range raw {
			if err := m.DoubleAck(actx); err != nil {
				b.log.Warn("messaging: ack", "stream", stream, "err", err)
			}
		}
		cancel()
	}
	return ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// validToken reports whether s is usable in a stream, subject or consumer
// name.
func validToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Token maps an arbitrary name (a telemetry stream's, say) to a valid
// stream name: letters, digits, _ and - pass; every other byte becomes
// _XX (its hex).
func Token(name string) string {
	var sb strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "_%02X", c)
		}
	}
	return sb.String()
}
