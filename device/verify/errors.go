package verify

import "errors"

// Errors callers branch on with errors.Is. Every error Update returns for a
// verification failure wraps ErrVerification as well as the specific one.
var (
	// ErrVerification is the class of every failed check below.
	ErrVerification = errors.New("verification failed")
	// ErrSignature: fewer valid signatures than the role's threshold.
	ErrSignature = errors.New("signature threshold not met")
	// ErrRollback: a document's version is older than the trusted one, or
	// a snapshot lists an older targets version than before.
	ErrRollback = errors.New("rollback")
	// ErrExpired: a document is past its expiry (a freeze attack, or a
	// server that stopped re-signing).
	ErrExpired = errors.New("expired metadata")
	// ErrMismatch: a document's version, length or hash differs from what
	// its parent lists (mix-and-match), or the director and the image
	// repository disagree on a bundle.
	ErrMismatch = errors.New("metadata mismatch")
	// ErrNotListed: the director assigns a bundle the image repository
	// does not list.
	ErrNotListed = errors.New("bundle not listed by the image repository")
	// ErrTooLarge: a document exceeded its length limit (endless data).
	ErrTooLarge = errors.New("metadata too large")
	// ErrWrongDevice: a director document names another device.
	ErrWrongDevice = errors.New("director document for another device")
	// ErrMalformed: a document is not valid metadata of its role.
	ErrMalformed = errors.New("malformed metadata")
	// ErrNotFound is what a Fetcher returns for a missing document; the root
	// chain ends at the first missing version.
	ErrNotFound = errors.New("not found")
)

// verr wraps a specific failure so that it is both errors.Is(err, kind)
// and errors.Is(err, ErrVerification).
type verr struct {
	kind error
	msg  string
}

func (e *verr) Error() string { return "verify: " + e.msg + ": " + e.kind.Error() }

func (e *verr) Is(target error) bool { return target == ErrVerification || target == e.kind }

func (e *verr) Unwrap() error { return e.kind }

func fail(kind error, msg string) error { return &verr{kind: kind, msg: msg} }
