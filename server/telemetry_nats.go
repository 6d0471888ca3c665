package server

import (
	"context"
	"time"

	"github.com/sextant-ml/sextant/messaging"
)

// TelemetryDurable names the JetStream consumer that aggregates telemetry;
// every replica uses the same one, so a batch goes to one aggregator.
const TelemetryDurable = "telemetry-aggregator"

// NewTelemetryQueue returns the TelemetryQueue over a JetStream bus: one
// work-queue stream per declared telemetry stream ("telemetry-" and the
// name), its messages kept at most the declared retention.
func NewTelemetryQueue(bus *messaging.Bus, o messaging.ConsumeOptions) TelemetryQueue {
	return natsTelemetry{bus: bus, opts: o}
}

type natsTelemetry struct {
	bus  *messaging.Bus
	opts messaging.ConsumeOptions
}

func telemetryTopic(stream string) string { return "telemetry-" + messaging.Token(stream) }

func (q natsTelemetry) Declare(ctx context.Context, stream string, retention time.Duration) error {
	return q.bus.Declare(ctx, messaging.Stream{Name: telemetryTopic(stream), MaxAge: retention})
}

func (q natsTelemetry) Publish(ctx context.Context, stream, id string, reports []byte) error {
	return q.bus.Publish(ctx, telemetryTopic(stream), id, reports)
}

func (q natsTelemetry) Consume(ctx context.Context, stream string, apply func(context.Context, []QueuedReports) error) error {
	return q.bus.Consume(ctx, telemetryTopic(stream), TelemetryDurable, q.opts, func(ctx context.Context, ms []messaging.Msg) error {
		b := make([]QueuedReports, len(ms))
		for i, m := range ms {
			b[i] = QueuedReports{Seq: m.Seq, Reports: m.Data}
		}
		return apply(ctx, b)
	})
}
