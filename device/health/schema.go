package health

import (
	"fmt"
	"time"

	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// The declared health streams.
const (
	StreamLoads     = "health.loads"
	StreamInference = "health.inference"
	StreamLatency   = "health.latency"
	StreamMemory    = "health.memory"
	StreamSessions  = "health.sessions"
	StreamQuality   = "health.quality"
	StreamDrift     = "health.drift"
)

// LatencyBucketsMs are the upper bounds (ms, inclusive) of the latency
// histogram's buckets; a last, open bucket holds everything slower.
var LatencyBucketsMs = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}

// NumLatencyBuckets is len(LatencyBucketsMs)+1.
const NumLatencyBuckets = 12

// MaxDriftBuckets bounds a drift histogram: the stream declares model,
// version, feature and one field per bucket within telemetry.MaxFields.
const MaxDriftBuckets = telemetry.MaxFields - 3

// Central-DP defaults of the health streams: ε per server release and per
// UTC day of releases. A gate evaluation of a proportion makes one release
// (split between its two counts), so 0.5 per release and 200 per day allow
// an evaluation every 4 minutes per rollout and metric; the server reuses
// its last release when the budget is spent (post-processing is free).
const (
	DefaultEpsilon     = 0.5
	DefaultDailyBudget = 200
	// Retention bounds how long the server keeps raw per-device totals.
	Retention = 14 * 24 * time.Hour
)

func latencyField(i int) string { return fmt.Sprintf("b%d", i) }

// Schemas declares the health streams with the default budget.
func Schemas() []telemetry.Schema {
	return SchemasWith(DefaultEpsilon, DefaultDailyBudget)
}

// SchemasWith declares the health streams with ε per release and a daily
// budget.
func SchemasWith(eps, daily float64) []telemetry.Schema {
	key := []telemetry.Field{{Name: "model", Type: telemetry.String}, {Name: "version", Type: telemetry.String}}
	ints := func(names ...string) []telemetry.Field {
		f := append([]telemetry.Field(nil), key...)
		for _, n := range names {
			f = append(f, telemetry.Field{Name: n, Type: telemetry.Int})
		}
		return f
	}
	lat := make([]string, NumLatencyBuckets)
	for i := range lat {
		lat[i] = latencyField(i)
	}
	drift := append(append([]telemetry.Field(nil), key...), telemetry.Field{Name: "feature", Type: telemetry.String})
	for i := range MaxDriftBuckets {
		drift = append(drift, telemetry.Field{Name: latencyField(i), Type: telemetry.Int})
	}
	s := func(name string, f []telemetry.Field) telemetry.Schema {
		return telemetry.Schema{Name: name, Fields: f, Mechanism: telemetry.Central,
			Epsilon: eps, DailyBudget: daily, Retention: Retention}
	}
	return []telemetry.Schema{
		s(StreamLoads, ints("loads", "load_failures")),
		s(StreamInference, ints("inferences", "inference_errors")),
		s(StreamLatency, ints(lat...)),
		s(StreamMemory, ints("peak_memory_mb")),
		s(StreamSessions, ints("sessions", "crashes")),
		s(StreamQuality, ints("labeled", "top1")),
		s(StreamDrift, drift),
	}
}

// Registry returns the registry of Schemas.
func Registry() *telemetry.Registry {
	r, err := telemetry.NewRegistry(Schemas()...)
	if err != nil {
		panic(err) // the declarations above are constant
	}
	return r
}
