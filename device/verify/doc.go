// Package verify is the device side of Sextant's Uptane-style delivery
// (DESIGN.md part 4): the TUF client workflow for the image repository and
// the director, and the Uptane check that both agree before a bundle is
// downloaded.
//
// It is a lean verifier written on the standard library (encoding/json,
// crypto/ed25519, crypto/sha256): go-tuf's metadata package alone pulls
// sigstore and protobuf into a phone build (7.1 MB stripped for
// android/arm64, 10.4 MB with its updater, against an 8 MB budget for the
// whole SDK). Its tests check it against repositories that go-tuf's metadata
// API writes (package delivery/signing) and against the attacks of the TUF
// and Uptane threat models.
//
// # Workflow
//
// [Client.Update] runs, for each repository, the TUF client workflow
// (TUF specification v1.0.31 §5): the root chain (each new root signed by
// the thresholds of the old and the new root role; timestamp and snapshot
// trust dropped when their keys rotate, which recovers from a fast-forward
// attack), then timestamp, snapshot and targets (and a model's delegated
// targets), each checked for signature thresholds, version monotonicity
// against what the device trusted before, agreement with the version its
// parent lists, and expiry against the injected clock. Every fetch is bounded
// by a per-role length limit. For the director it checks the device's
// targets document the same way and that it names this device.
//
// Then the Uptane check: a bundle the director assigns is accepted only if
// the image repository lists the same path with the same length and SHA-256.
// The caller downloads it with its own streaming code and checks the result
// with [Target.Check].
//
// # State
//
// The trusted metadata is kept in a [Store] (a directory on the phone), so
// version monotonicity survives restarts. The state machines ([Trusted] for
// the image repository, the director's in [Client]) do no I/O.
//
// A Client also remembers, for its lifetime, which documents passed their
// signature checks under which keys in its last update, and parses of the
// same bytes are shared in the process (python-tuf's ngclient keeps its
// trusted metadata for one refresh; this keeps only signature results
// across updates and runs every other check again). An update that finds
// nothing new therefore re-reads its stored documents and compares their
// bytes (by SHA-256) but does not parse or verify them again; every other
// check — versions, rollback, expiry against the clock, lengths and hashes
// parents list, the device binding, agreement — runs on every update.
// Keep one Client per device across updates to benefit.
package verify
