package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Device is an enrolled device. Its credential is a secret the device holds;
// only the secret's hash is stored.
type Device struct {
	// ID is the server-assigned device identifier.
	ID string `json:"id"`
	// CredentialHash is HashSecret of the device credential.
	CredentialHash string `json:"-"`
	// Attributes are what rollouts target on, as the device last reported.
	Attributes   Attributes `json:"attributes"`
	RegisteredAt time.Time  `json:"registered_at"`
	// LastCheckIn is zero until the first check-in.
	LastCheckIn time.Time `json:"last_check_in,omitzero"`
}

// Attributes are the device facts that rollouts and experiments target.
type Attributes struct {
	// Class is the device class (device/profile), e.g. "mid-2022".
	Class string `json:"class,omitempty"`
	// OS is the operating system and its version, e.g. "android 14".
	OS         string `json:"os,omitempty"`
	AppVersion string `json:"app_version,omitempty"`
	// Region is a coarse region code (ISO 3166), never a location.
	Region string `json:"region,omitempty"`
	// Locale is a BCP 47 tag, e.g. "de-CH".
	Locale string            `json:"locale,omitempty"`
	Custom map[string]string `json:"custom,omitempty"`
}

// Scope is what an admin token may do.
type Scope string

const (
	// ScopeRead allows reading the registry, devices and the audit log.
	ScopeRead Scope = "read"
	// ScopePublish allows publishing versions (and reading).
	ScopePublish Scope = "publish"
	// ScopeRollout allows moving current versions and rollouts (and
	// reading).
	ScopeRollout Scope = "rollout"
	// ScopeEnroll allows only registering devices; it is the token baked
	// into an app build, so it reads nothing.
	ScopeEnroll Scope = "enroll"
)

// ValidScope reports whether s is a known scope.
func ValidScope(s Scope) bool {
	switch s {
	case ScopeRead, ScopePublish, ScopeRollout, ScopeEnroll:
		return true
	}
	return false
}

// Token is an admin (or enrollment) bearer token. The secret itself is
// shown once at creation and never stored.
type Token struct {
	// ID names the token in the audit log; it is not secret.
	ID string `json:"id"`
	// Hash is HashSecret of the bearer secret.
	Hash  string `json:"-"`
	Scope Scope  `json:"scope"`
	// Name is a label for people ("ci-publisher").
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is zero while the token is valid.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Allows reports whether the token is unrevoked and its scope permits a
// call needing scope s. Publish and rollout tokens may also read; an
// enrollment token may only enroll.
func (t *Token) Allows(s Scope) bool {
	if !t.RevokedAt.IsZero() {
		return false
	}
	if t.Scope == s {
		return true
	}
	return s == ScopeRead && (t.Scope == ScopePublish || t.Scope == ScopeRollout)
}

// Validate checks a token before it is stored.
func (t *Token) Validate() error {
	if t.ID == "" {
		return Errorf(ErrInvalid, "token has no id")
	}
	if !ValidSHA256(t.Hash) {
		return Errorf(ErrInvalid, "token hash is not a SHA-256")
	}
	if !ValidScope(t.Scope) {
		return Errorf(ErrInvalid, "unknown scope %q", t.Scope)
	}
	return nil
}

// HashSecret returns the lower-case hex SHA-256 of a bearer secret or
// device credential: what the store keeps and looks up by. Secrets are
// high-entropy random strings, so a fast unsalted hash suffices (there is
// nothing to brute-force as there would be with a password).
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
