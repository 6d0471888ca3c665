package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Target is a bundle both repositories vouch for: the director assigns it
// to this device and the image repository lists it with the same length and
// hash.
type Target struct {
	// Path is the target path, "<model>/<version>.sxm".
	Path string
	// Model and Version come from the image repository's custom field.
	Model, Version string
	// Length is the bundle's exact size in bytes: download no more.
	Length int64
	// SHA256 is the bundle's content hash.
	SHA256 [32]byte
	// MinRuntimeVersion and Ops are what the bundle needs of the runtime.
	MinRuntimeVersion string
	Ops               []string
}

// Check reports whether a downloaded bundle of length bytes with SHA-256
// sum is this target.
func (t Target) Check(length int64, sum [32]byte) error {
	if length != t.Length {
		return fail(ErrMismatch, fmt.Sprintf("bundle %s is %d bytes, want %d", t.Path, length, t.Length))
	}
	if sum != t.SHA256 {
		return fail(ErrMismatch, fmt.Sprintf("bundle %s hash differs", t.Path))
	}
	return nil
}

// imageCustom is the custom field the image repository writes.
type imageCustom struct {
	Model             string   `json:"model"`
	Version           string   `json:"version"`
	MinRuntimeVersion string   `json:"min_runtime_version"`
	Ops               []string `json:"ops"`
}

// agree is the Uptane check: the director's target and the image
// repository's must have the same length and the same value for every hash
// algorithm both list, and both must list SHA-256.
func agree(p string, dir, img targetFile) (Target, error) {
	if dir.Length != img.Length {
		return Target{}, fail(ErrMismatch, fmt.Sprintf("%s: director says %d bytes, image repository %d", p, dir.Length, img.Length))
	}
	for alg, h := range dir.Hashes {
		if ih, ok := img.Hashes[alg]; ok && !strings.EqualFold(ih, h) {
			return Target{}, fail(ErrMismatch, fmt.Sprintf("%s: %s differs between director and image repository", p, alg))
		}
	}
	t, err := imageTarget(p, img)
	if err != nil {
		return Target{}, err
	}
	if d, ok := dir.Hashes["sha256"]; !ok || !strings.EqualFold(d, img.Hashes["sha256"]) {
		return Target{}, fail(ErrMismatch, p+": director lists no matching sha256")
	}
	return t, nil
}

// imageTarget converts an image-repository target.
func imageTarget(p string, img targetFile) (Target, error) {
	t := Target{Path: p, Length: img.Length}
	h, err := hex.DecodeString(img.Hashes["sha256"])
	if err != nil || len(h) != sha256.Size {
		return Target{}, fail(ErrMalformed, p+": no sha256")
	}
	copy(t.SHA256[:], h)
	if len(img.Custom) > 0 {
		var c imageCustom
		if err := json.Unmarshal(img.Custom, &c); err != nil {
			return Target{}, fail(ErrMalformed, fmt.Sprintf("%s custom: %v", p, err))
		}
		t.Model, t.Version, t.MinRuntimeVersion, t.Ops = c.Model, c.Version, c.MinRuntimeVersion, c.Ops
	}
	return t, nil
}

// matchPath reports whether a delegation path pattern covers target: TUF's
// shell-style patterns, where "*" does not cross "/" (§4.5).
func matchPath(pattern, target string) bool {
	if strings.Count(pattern, "/") != strings.Count(target, "/") {
		return false
	}
	ok, err := path.Match(pattern, target)
	return err == nil && ok
}
