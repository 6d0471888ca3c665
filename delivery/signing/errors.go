package signing

import "errors"

// Errors callers branch on with errors.Is.
var (
	// ErrNoPrivateKey: an operation needs a key's private half and has
	// only its public one (an offline key on the server, say).
	ErrNoPrivateKey = errors.New("no private key")
	// ErrNotRoleKey: a key given to sign a role is not one of that role's
	// keys in the trusted metadata.
	ErrNotRoleKey = errors.New("key not authorized for role")
	// ErrThreshold: fewer valid signatures than the role's threshold.
	ErrThreshold = errors.New("signature threshold not met")
	// ErrVersion: uploaded metadata does not advance the role's version by
	// exactly one.
	ErrVersion = errors.New("metadata version does not follow")
	// ErrBadName: a model name or version cannot form a target path.
	ErrBadName = errors.New("bad model name or version")
	// ErrUnknownModel: no delegated role for the model.
	ErrUnknownModel = errors.New("unknown model")
	// ErrWrongPassphrase: an encrypted key did not open.
	ErrWrongPassphrase = errors.New("wrong passphrase or key file")
)
