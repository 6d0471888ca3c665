package delivery

import "time"

// ArtifactKind says what an artifact's bytes are.
type ArtifactKind string

const (
	// KindBundle is a version's full .sxm bundle.
	KindBundle ArtifactKind = "bundle"
	// KindDelta is a zstd delta that rebuilds the version's bundle from
	// the bundle of version From.
	KindDelta ArtifactKind = "delta"
	// KindMetadata is anything else attached to a version (an eval report,
	// a model card).
	KindMetadata ArtifactKind = "metadata"
)

// Media types of the artifacts Sextant writes.
const (
	MediaBundle = "application/vnd.sextant.bundle"
	MediaDelta  = "application/vnd.sextant.bundle-delta+zstd"
)

// Artifact is a blob attached to a version, addressed by its content.
type Artifact struct {
	// SHA256 (lower-case hex) is the content address; Length the size in
	// bytes.
	SHA256    string       `json:"sha256"`
	Length    int64        `json:"length"`
	MediaType string       `json:"media_type"`
	Kind      ArtifactKind `json:"kind"`
	// Model and Version name the version the artifact belongs to.
	Model   string `json:"model"`
	Version string `json:"version"`
	// From is, for a delta, the version whose bundle it applies to; "" for
	// other kinds.
	From      string    `json:"from,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks an artifact before it is recorded.
func (a *Artifact) Validate() error {
	if !ValidName(a.Model) {
		return Errorf(ErrInvalid, "model name %q is not valid", a.Model)
	}
	if a.Version == "" {
		return Errorf(ErrInvalid, "artifact has no version")
	}
	if !ValidSHA256(a.SHA256) {
		return Errorf(ErrInvalid, "sha256 %q is not 64 lower-case hex digits", a.SHA256)
	}
	if a.Length <= 0 {
		return Errorf(ErrInvalid, "length %d is not positive", a.Length)
	}
	switch a.Kind {
	case KindDelta:
		if a.From == "" {
			return Errorf(ErrInvalid, "a delta names the version it applies to")
		}
	case KindBundle, KindMetadata:
		if a.From != "" {
			return Errorf(ErrInvalid, "only a delta has a from-version")
		}
	default:
		return Errorf(ErrInvalid, "unknown artifact kind %q", a.Kind)
	}
	return nil
}

// Blob is what a blob store knows of a stored blob.
type Blob struct {
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
}
