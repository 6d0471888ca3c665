package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Replay reads the log stream (Stream.Log) from sequence from on, in
// stream order, handing handle at most batch messages a call (default
// 256), until ctx ends or handle fails. Sequences below the stream's
// first (removed after MaxAge) are skipped; from 0 means the start. It
// returns handle's error, or ctx's: the caller, which alone knows what it
// folded in, resumes from the sequence after the last message it kept.
//
// Replay uses an ordered consumer: nothing is acknowledged and nothing is
// kept on the server, so readers do not disturb each other.
func (b *Bus) Replay(ctx context.Context, stream string, from uint64, batch int, handle func(context.Context, []Msg) error) error {
	if batch <= 0 {
		batch = 256
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{b.subject(stream)},
		DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := b.js.OrderedConsumer(ctx, b.streamName(stream), cfg)
	if err != nil {
		return fmt.Errorf("messaging: replay %s: %w", stream, err)
	}
	for ctx.Err() == nil {
		fetched, err := cons.Fetch(batch, jetstream.FetchMaxWait(time.Second))
		if b.nc.IsClosed() {
			return fmt.Errorf("messaging: replay %s: %w", stream, nats.ErrConnectionClosed)
		}
		if err != nil {
			b.log.Warn("messaging: replay fetch", "stream", stream, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		var msgs []Msg
		for m := range fetched.Messages() {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			msgs = append(msgs, Msg{Seq: md.Sequence.Stream, ID: m.Headers().Get(jetstream.MsgIDHeader),
				Data: m.Data(), Time: md.Timestamp})
		}
		if err := fetched.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			b.log.Warn("messaging: replay fetch", "stream", stream, "err", err)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := handle(ctx, msgs); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Bounds returns the sequences of the stream's first and last messages;
// an empty stream has first = last+1 (last 0: never written). A reader
// uses them to tell when a Replay has caught up.
func (b *Bus) Bounds(ctx context.Context, stream string) (first, last uint64, err error) {
	s, err := b.js.Stream(ctx, b.streamName(stream))
	if err != nil {
		return 0, 0, fmt.Errorf("messaging: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("messaging: stream %s: %w", stream, err)
	}
	if info.State.Msgs == 0 {
		return info.State.LastSeq + 1, info.State.LastSeq, nil
	}
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// MaxPayload is the largest message the server takes (its max_payload):
// a publisher of larger content splits it.
func (b *Bus) MaxPayload() int64 { return b.nc.MaxPayload() }
