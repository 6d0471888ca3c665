package sextant

// The scale-out packages (issue 12) are server-only too.
func init() {
	for p, why := range map[string]string{
		"github.com/nats-io/nats.go":                    "message queue client of the server",
		"github.com/sextant-ml/sextant/lease":           "leader election among server replicas",
		"github.com/sextant-ml/sextant/messaging":       "the server's JetStream queues",
		"github.com/sextant-ml/sextant/internal/pgtest": "PostgreSQL test schemas",
	} {
		serverOnly[p] = why
	}
}
