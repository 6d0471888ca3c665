// Package router is the device SDK's hybrid-inference path: for each
// Predict it decides, under the model's policy and the host's state,
// whether the answer comes from the on-device model, the server model, or
// the answer cache, and it enforces the privacy projection on everything it
// sends (DESIGN.md part 6; issue 9).
//
// # Policies
//
// Each model has a [Policy]: on-device only, prefer on-device (server on a
// device failure), prefer server (device on a server failure), server only,
// cascade (run on device, escalate when the calibrated confidence is below
// the manifest's threshold: max probability, margin or entropy of the
// temperature-scaled softmax for a classifier, or, for a regressor, a
// confidence output the model computes itself, [Score], which [Load] picks
// for a model with an output named [ConfidenceOutput]), latency-aware (an EWMA of the device's
// latency against an EWMA of the server's round trip plus compute),
// energy-aware (the device profile's InferenceEnergy against the network's
// RadioEnergy for the request's bytes: Neurosurgeon's E(k) for the two
// split points k = all-device and k = all-server), and race (start on
// device, hedge to the server at once, return the server answer if it
// arrives before the deadline, else the device answer).
//
// A server wait is bounded by the model's Deadline; a server answer later
// than that, a transport error, a 5xx or a 429 counts as a failure for the
// circuit breaker, which opens after BreakerConfig.Failures consecutive
// failures and lets one probe through after a jittered, doubling cooldown.
// When the server cannot be asked at all (offline, no variant, a private
// input, the breaker open) even a server-only model answers on device if
// it has a local model: offline, every request is answered by the last good
// model ([Load] falls back to it), never by waiting for a download.
//
// An optional in-memory answer cache (Model.CacheSize) answers a repeated
// request with [SourceCache]; it is keyed by a hash of all inputs and never
// leaves the device.
//
// A server call happens only when the model has a server variant, the
// privacy projection succeeds, the host is online and the circuit breaker
// is closed (or half-open and this call is its probe); otherwise the device
// answers. Offline, every request is answered on device.
//
// # Privacy projection
//
// [Project] builds the server request from the manifest alone: only the
// inputs the server variant lists, never a private one, sensitive ones only
// after their declared coarsening (time_slot, bucket, and s2, which snaps a
// place to its S2 cell's centre; h3 and unknown kinds are refused, which
// keeps the request on device). The request is
// built from the projected tensors only, so no other input can reach the
// wire. The wire format ([InferRequest], [InferResponse]) is JSON with
// base64 little-endian tensor data, described in docs/api.md; the server
// decodes it with the same types.
//
// # Dependencies
//
// The router talks to the network only through transport.Poster and reads
// time only through clock.Clock; randomness (the breaker's jitter) comes
// from an injected source. It links no net/http.
package router
