package signing

import (
	"encoding/hex"
	"fmt"
)

// Bundle is one genuine bundle as the image repository lists it.
type Bundle struct {
	// Model and Version name the bundle (from its manifest).
	Model, Version string
	// Length is the bundle's size in bytes.
	Length int64
	// SHA256 is the bundle's content hash.
	SHA256 [32]byte
	// MinRuntimeVersion is the oldest runtime that can run it.
	MinRuntimeVersion string
	// Ops lists the operators it uses.
	Ops []string
}

// Path is the bundle's target path: "<model>/<version>.sxm".
func (b Bundle) Path() string { return b.Model + "/" + b.Version + ".sxm" }

func (b Bundle) check() error {
	if !nameRE.MatchString(b.Model) || !nameRE.MatchString(b.Version) {
		return fmt.Errorf("signing: model %q version %q: %w", b.Model, b.Version, ErrBadName)
	}
	if b.Length <= 0 {
		return fmt.Errorf("signing: bundle %s: length %d", b.Path(), b.Length)
	}
	return nil
}

// imageCustom is the custom field of an image-repository target.
type imageCustom struct {
	Model             string   `json:"model"`
	Version           string   `json:"version"`
	MinRuntimeVersion string   `json:"min_runtime_version,omitempty"`
	Ops               []string `json:"ops,omitempty"`
}

// directorCustom is the custom field of a director target.
type directorCustom struct {
	Model   string `json:"model"`
	Version string `json:"version"`
}

func (b Bundle) hashes() map[string]string {
	return map[string]string{"sha256": hex.EncodeToString(b.SHA256[:])}
}
