package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/sextant-ml/sextant/messaging"
)

// openBus connects `sextant serve` to NATS JetStream: the server at url,
// or, when url is "", one embedded in the process with its store under
// data/nats, its streams named under prefix. Replicas on PostgreSQL must
// share an external server: each embedded one would hold only its own
// replica's reports.
func openBus(ctx context.Context, url, prefix, data, dialect string, log *slog.Logger) (*messaging.Bus, error) {
	if url == "" && dialect == "postgres" {
		log.Warn("serve: telemetry queue on an embedded NATS server; run replicas with a shared --nats nats://…")
	}
	return messaging.Open(ctx, messaging.Config{URL: url, Dir: filepath.Join(data, "nats"), Prefix: prefix, Logger: log})
}
