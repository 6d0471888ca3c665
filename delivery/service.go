package delivery

import (
	"context"
	"io"
)

// The service interfaces below are the contract between the domain's users
// (the HTTP server, the director, rollouts, the demo) and its adapters.
// They live here, not in package store, so that users and their test fakes
// depend only on this dependency-free package; package store implements
// all of them with one type over SQLite and PostgreSQL, and its one test
// suite checks both. Every method reports domain errors (ErrNotFound,
// ErrConflict, ErrInvalid, *VersionError) wrapped with context.

// Registry keeps models, their versions, artifacts and current pointers.
type Registry interface {
	// CreateModel adds a model; ErrConflict if the name is taken.
	CreateModel(ctx context.Context, m Model) (Model, error)
	GetModel(ctx context.Context, name string) (Model, error)
	// ListModels returns every model by name.
	ListModels(ctx context.Context) ([]Model, error)

	// PublishVersion records a new version of an existing model and its
	// bundle artifact, atomically: it fails with a *VersionError unless
	// the version increases over the latest, even under concurrent
	// publishers. It returns the stored version (PublishedAt set).
	PublishVersion(ctx context.Context, v Version) (Version, error)
	GetVersion(ctx context.Context, model, version string) (Version, error)
	// ListVersions returns a model's versions in publish (= semver) order.
	ListVersions(ctx context.Context, model string) ([]Version, error)
	// Lineage returns the version and its ancestors, newest first,
	// following Parent while the parent is in the registry.
	Lineage(ctx context.Context, model, version string) ([]Version, error)

	// SetCurrent points a model's current version at a published version.
	SetCurrent(ctx context.Context, model, version string) error
	// GetCurrent returns the model's current version; ErrNotFound if none
	// is set.
	GetCurrent(ctx context.Context, model string) (Version, error)

	// PutArtifact records an artifact of a published version (its blob
	// must already be stored); recording the same one again is a no-op.
	PutArtifact(ctx context.Context, a Artifact) (Artifact, error)
	// ListArtifacts returns a version's artifacts.
	ListArtifacts(ctx context.Context, model, version string) ([]Artifact, error)
}

// Tokens keeps admin and enrollment tokens by hash.
type Tokens interface {
	// CreateToken stores a token; ErrConflict for a duplicate ID or hash.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// TokenByHash finds a token, revoked or not, by HashSecret of its
	// secret.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks a token revoked; revoking twice keeps the first
	// time.
	RevokeToken(ctx context.Context, id string) error
}

// Devices keeps enrolled devices.
type Devices interface {
	// RegisterDevice stores a new device; ErrConflict for a duplicate ID
	// or credential.
	RegisterDevice(ctx context.Context, d Device) (Device, error)
	GetDevice(ctx context.Context, id string) (Device, error)
	// DeviceByCredential finds a device by HashSecret of its credential.
	DeviceByCredential(ctx context.Context, hash string) (Device, error)
	// CheckIn replaces a device's attributes and stamps its last check-in.
	CheckIn(ctx context.Context, id string, attrs Attributes) (Device, error)
}

// AuditLog is the append-only record of admin calls.
type AuditLog interface {
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// Store is everything the server persists outside blobs.
type Store interface {
	Registry
	Tokens
	Devices
	AuditLog
	Close() error
}

// BlobStore keeps content-addressed blobs (bundles, deltas). The file-system
// implementation is store.Blobs; object storage comes later behind the same
// interface.
type BlobStore interface {
	// Put streams r into the store and returns its address. A non-empty
	// want.SHA256 or positive want.Length must match the content, else
	// ErrIntegrity and nothing is stored. Putting existing content again
	// succeeds.
	Put(ctx context.Context, r io.Reader, want Blob) (Blob, error)
	// Open returns the blob's content for reading and seeking (for
	// http.ServeContent); the caller closes it. ErrNotFound if absent.
	Open(ctx context.Context, sha256 string) (BlobReader, Blob, error)
	// Stat reports a blob's length; ErrNotFound if absent.
	Stat(ctx context.Context, sha256 string) (Blob, error)
	// Delete removes a blob; deleting an absent one is not an error.
	Delete(ctx context.Context, sha256 string) error
}

// BlobReader is an open blob.
type BlobReader interface {
	io.ReadSeekCloser
	io.ReaderAt
}
