// Package health is the device side of rollout health reporting (DESIGN.md
// part 5, issue 8): a Recorder the SDK feeds as it loads models and serves
// requests, which folds everything into small per-(model, version)
// counters, and the Report those counters become when the updater sends
// them with its next check-in.
//
// # Streams
//
// Every counter belongs to a stream declared in Schemas (package
// privacy/telemetry, mechanism central): load failures, inference errors,
// latency (bucket counts of LatencyBucketsMs), peak memory, crash-free
// sessions, on-device quality (top-1 hits once the truth is known) and
// input drift (per-feature bucket counts). Report.Validate checks each
// entry against the declared schemas, so the SDK sends nothing
// undeclared, and the server runs the same check before it aggregates.
//
// # Privacy
//
// A report carries only counts keyed by model and version, both of which
// the check-in's installed-models map already carries, and it rides that
// authenticated check-in: it adds no identifier, no timestamp and no
// sequence number beyond what the check-in already reveals, and nothing
// about any single request (counts are summed between check-ins). The
// server uses the device id the check-in already carries only as the
// privacy unit for contribution bounding, in memory; what leaves its
// aggregator are central-DP releases (privacy/aggregate) whose ε is
// charged to each stream's daily budget. Drift histograms are collected
// only for inputs whose privacy class is public: a private input never
// leaves the device in any form, and a sensitive one only through its
// declared coarsening, which a histogram is not.
//
// # Training histograms
//
// A bundle carries the training distribution of its public inputs as a
// member "training_histograms" of its manifest's provenance (kept by the
// manifest's unknown-member round trip, so no manifest field is added):
// per feature, the interior bucket edges and the training proportion of
// each bucket. TrainingHistogramsOf reads it, SetTrainingHistograms writes
// it, Fit computes it from training values.
package health
