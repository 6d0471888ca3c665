// Package server is Sextant's HTTP API (DESIGN.md part 4): the device API
// (enrolment, check-in, the two Uptane repositories' signed metadata, and
// content-addressed bundle downloads) and the admin API (publishing,
// the registry, current versions, signed-metadata uploads, the audit log).
// docs/api.md and docs/openapi.yaml describe every route.
//
// # Shape
//
// A [Server] is a value: [New] wires it from a delivery.Store, a
// delivery.BlobStore, the signing state ([Signing]), a clock, a logger and a
// Prometheus registry of its own; [Server.Handler] is its http.Handler;
// [Server.Run] serves a listener until its context ends, then shuts down
// gracefully; [Server.Close] stops background work. Tests start it on
// 127.0.0.1:0. Nothing is global: two servers in one process share nothing.
//
// # Errors
//
// Handlers return errors; one function (writeError) maps the domain's codes
// (delivery.Code) to HTTP statuses, once, and answers {"code", "message"}
// with the domain's client-safe message. Internal errors are logged and
// answered "internal error". [Client] maps codes back with
// delivery.FromCode, so errors.Is works across the wire.
//
// # Auth
//
// Admin calls carry a bearer token whose scope allows them (tokens are
// stored hashed: delivery.HashSecret). Devices enrol with an enrollment-scoped
// token (POST /v1/devices), receive an identifier and a credential, and
// authenticate every later call with that credential. Per-token and
// per-device token buckets bound request rates; every admin call is
// appended to the audit log (who: the token's ID; what; when).
//
// # Signed metadata
//
// The offline root and targets keys never reach the server: the CLI signs
// targets and uploads them (POST /v1/admin/metadata); the server checks
// them against the trusted metadata, stores them, and re-signs snapshot and
// timestamp with its online keys, both right away and on a timer driven by
// the injected clock. The director signs one document per device and
// assignment (cached by signing.Director), so a check-in whose assignment
// did not change costs no signature.
//
// # Privacy
//
// Request logs carry the route pattern (never the path, so no device
// identifier), status, size and latency; no addresses, no user agents.
//
// POST /v1/telemetry takes anonymous batches of local-DP reports
// (privacy/telemetry's wire format) with no credential, checks the whole
// batch against the declared streams, folds it into per-stream sketches in
// memory (privacy/ldp) and drops it: no report, identifier or address is
// stored. Abuse is bounded by one identity-free token bucket for batches
// and one per stream for reports. GET /v1/admin/telemetry/{stream} answers
// debiased estimates.
//
// # Deltas
//
// Publishing a version computes a zstd delta from the model's previous
// version (device/delta) when both bundles are at most 64 MiB, and keeps it
// as a delta artifact if it saves at least 10%. The check-in answer offers
// it, unsigned, to a device whose installed version it applies to: the
// device verifies the rebuilt bundle against the signed target and falls
// back to the bundle.
//
// # Rollouts
//
// Config.Assigner (by default Config.Rollouts, a *rollout.Controller) is
// asked first for each model of a device's director assignment, with the
// device's reported attributes and its ID as the unit; "" serves the
// model's current version. Versions a rollout assigns are read from the
// store once and cached (they are immutable). The admin rollout routes
// (rollouts.go) create, show and steer rollouts.
package server
