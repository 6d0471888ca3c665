package delivery

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on with errors.Is. Adapters wrap them with
// context; the HTTP server maps each to one status code (Code), and its
// client maps the code back (FromCode), so errors.Is works across the wire.
var (
	// ErrNotFound: the named model, version, token, device or blob does
	// not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the thing being created exists already, or the change
	// races another one that won.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a domain rule (bad name, not semver,
	// malformed hash, wrong length).
	ErrInvalid = errors.New("invalid")
	// ErrVersionNotIncreasing: a published version does not increase over
	// the model's latest. The error is a *VersionError, which also matches
	// ErrConflict.
	ErrVersionNotIncreasing = errors.New("version does not increase")
	// ErrUnauthorized: no credential, an unknown one, or a revoked one.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credential is valid but its scope does not allow
	// the call.
	ErrForbidden = errors.New("forbidden")
	// ErrIntegrity: content does not match the length or SHA-256 it was
	// announced with.
	ErrIntegrity = errors.New("integrity check failed")
)

// Error is a domain error with a message that is safe to show to a client.
// Kind is one of the sentinels above; errors.Is(err, Kind) holds.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind with a formatted message. The
// message is shown to clients: put no internal detail in it.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// VersionError reports a publish whose version does not increase over the
// model's latest. errors.Is matches ErrVersionNotIncreasing and ErrConflict.
type VersionError struct {
	Model string
	// Have is the model's latest version, Got the refused one.
	Have, Got string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("model %q: version %s does not increase over the latest, %s", e.Model, e.Got, e.Have)
}

// Is matches ErrVersionNotIncreasing and ErrConflict.
func (e *VersionError) Is(target error) bool {
	return target == ErrVersionNotIncreasing || target == ErrConflict
}

// codes is the one table of error codes, most specific first.
var codes = []struct {
	code string
	err  error
}{
	{"version_not_increasing", ErrVersionNotIncreasing},
	{"not_found", ErrNotFound},
	{"conflict", ErrConflict},
	{"invalid", ErrInvalid},
	{"unauthorized", ErrUnauthorized},
	{"forbidden", ErrForbidden},
	{"integrity", ErrIntegrity},
}

// Code returns the stable code of err's domain kind ("not_found",
// "conflict", …), "" for nil, and "internal" for anything else.
func Code(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

// Message returns the client-safe message of err: the message of the first
// *Error or *VersionError in its chain, the bare sentinel's text for a
// wrapped sentinel, and "internal error" otherwise. Internal detail (SQL,
// paths, driver errors) never reaches it.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var de *Error
	if errors.As(err, &de) {
		return de.Message
	}
	var ve *VersionError
	if errors.As(err, &ve) {
		return ve.Error()
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.err.Error()
		}
	}
	return "internal error"
}

// FromCode rebuilds an error from a code and message received over the
// wire, so errors.Is works on the client as on the server. Unknown codes
// give a plain error.
func FromCode(code, message string) error {
	for _, c := range codes {
		if c.code == code {
			kind := c.err
			if kind == ErrVersionNotIncreasing {
				// As on the server, a refused version is also a conflict.
				kind = errors.Join(ErrVersionNotIncreasing, ErrConflict)
			}
			return &Error{Kind: kind, Message: message}
		}
	}
	return errors.New(message)
}
