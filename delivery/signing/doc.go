// Package signing writes the signed metadata of Sextant's two Uptane
// repositories (DESIGN.md part 4), with go-tuf's metadata API.
//
// # Image repository
//
// [Repository] holds the TUF roles that say which bundles are genuine: root,
// top-level targets with one delegated role per model ("targets/<model>",
// which lists that model's bundles with length, SHA-256 and a custom
// {model, version, min_runtime_version, ops}), snapshot and timestamp.
// Root and targets keys are offline: only the operator's CLI holds them, in a
// [KeyDir] encrypted at rest with age. Snapshot and timestamp keys are online:
// the server holds them and calls [Repository.Refresh] on a timer, which
// re-signs snapshot and timestamp before they expire (time comes from the
// caller, who reads the injected clock).
//
// # Director
//
// [Director] signs, per device and with a short expiry, a targets document
// naming the bundle each model on that device should run. Documents are
// cached per assignment: a check-in whose assignment did not change is
// served the cached bytes, and a document is re-signed only when the
// assignment changes or the cached one nears expiry. The cache is bounded
// in bytes and entries (CLOCK eviction; a hit does not allocate), and a
// device re-signed after eviction still gets a larger version. The
// director's keys are anchored in its own root metadata, signed by the
// offline root keys.
//
// # Device credentials
//
// [DeviceCredentials] mints the bearer credentials devices get at
// registration and verifies them without a database: an HMAC under a key
// derived from the director key names the device.
//
// # Files
//
// Every signing operation returns [File] values: the role, version, the
// repository path ([MetadataPath]) and the bytes. The server stores and
// serves them; devices verify them with package device/verify, which does
// not link go-tuf.
package signing
