package delivery

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/sextant-ml/sextant/bundle"
)

// Model is a named model whose versions the registry keeps.
type Model struct {
	// Name identifies the model across versions (the bundle manifest's
	// name), e.g. "next-destination". See ValidName.
	Name string `json:"name"`
	// Description is free text for people.
	Description string `json:"description,omitempty"`
	// CreatedAt is when the registry first saw the model; CreatedBy who
	// created it (a token ID).
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Latest is the highest published version, "" before the first.
	Latest string `json:"latest,omitempty"`
	// Current is the version devices should run until rollouts decide per
	// device: the director's input. "" until set.
	Current string `json:"current,omitempty"`
}

// Version is one published version of a model: the bundle's identity
// (content address and length, which the signed targets metadata repeats),
// its manifest and its lineage.
type Version struct {
	Model string `json:"model"`
	// Version is semver (the bundle manifest's version).
	Version string `json:"version"`
	// Parent is the version this one was derived from, "" for a first
	// version. It precedes Version; it may predate the registry.
	Parent string `json:"parent,omitempty"`
	// SHA256 (lower-case hex) and Length identify the bundle's bytes; the
	// blob store holds them under that address.
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
	// Manifest is the bundle manifest's JSON, kept verbatim (unknown
	// fields included).
	Manifest json.RawMessage `json:"manifest,omitempty"`
	// PublishedBy is who published (a token ID); PublishedAt is set by the
	// store from its clock.
	PublishedBy string    `json:"published_by,omitempty"`
	PublishedAt time.Time `json:"published_at"`
	Notes       string    `json:"notes,omitempty"`
	Lineage     Lineage   `json:"lineage"`
}

// Lineage records where a version came from and what it cost in privacy.
type Lineage struct {
	// DataSnapshot is the content hash of the training data's manifest.
	DataSnapshot string `json:"data_snapshot,omitempty"`
	// TrainingRun identifies the run that produced the weights.
	TrainingRun string `json:"training_run,omitempty"`
	// FederatedRounds lists the federated rounds whose updates it holds.
	FederatedRounds []string `json:"federated_rounds,omitempty"`
	// Privacy is the (ε, δ) spent on the training data; nil when no
	// differential-privacy guarantee was recorded (distinct from ε = 0).
	Privacy *Privacy `json:"privacy,omitempty"`
	// EvalReport is the evaluation report's summary JSON (package eval),
	// nil when none was attached.
	EvalReport json.RawMessage `json:"eval_report,omitempty"`
}

// Privacy is a differential-privacy cost.
type Privacy struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// VersionFromManifest fills a Version's model, version, parent and lineage
// from a bundle manifest. The caller adds the content address, length,
// manifest JSON, publisher and notes.
func VersionFromManifest(m *bundle.Manifest) Version {
	v := Version{
		Model:   m.Name,
		Version: m.Version,
		Parent:  m.ParentVersion,
		Lineage: Lineage{
			DataSnapshot:    m.Provenance.DataSnapshot,
			TrainingRun:     m.Provenance.TrainingRun,
			FederatedRounds: m.Provenance.FederatedRounds,
		},
	}
	if p := m.Provenance.Privacy; p != nil {
		v.Lineage.Privacy = &Privacy{Epsilon: p.Epsilon, Delta: p.Delta}
	}
	return v
}

// maxNameLen bounds model names (they appear in paths and TUF role names).
const maxNameLen = 128

// ValidName reports whether s can name a model: 1–128 characters of
// [a-z0-9._-], starting with a letter or digit. Names become URL path
// segments and TUF delegated-role names, so nothing else is allowed.
func ValidName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidSHA256 reports whether s is a lower-case hex SHA-256.
func ValidSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Validate checks a model before it is created.
func (m *Model) Validate() error {
	if !ValidName(m.Name) {
		return Errorf(ErrInvalid, "model name %q: want 1-%d characters of a-z, 0-9, '.', '_', '-'", m.Name, maxNameLen)
	}
	return nil
}

// Validate checks a version before it is published: a valid model name,
// semver version, a parent that precedes it, a SHA-256 and a positive
// length, manifest JSON that parses, and a sane privacy cost.
func (v *Version) Validate() error {
	if !ValidName(v.Model) {
		return Errorf(ErrInvalid, "model name %q is not valid", v.Model)
	}
	sv, err := bundle.ParseVersion(v.Version)
	if err != nil {
		return Errorf(ErrInvalid, "%s", err.Error())
	}
	if v.Parent != "" {
		pv, err := bundle.ParseVersion(v.Parent)
		if err != nil {
			return Errorf(ErrInvalid, "parent: %s", err.Error())
		}
		if pv.Compare(sv) >= 0 {
			return Errorf(ErrInvalid, "parent version %s does not precede %s", v.Parent, v.Version)
		}
	}
	if !ValidSHA256(v.SHA256) {
		return Errorf(ErrInvalid, "sha256 %q is not 64 lower-case hex digits", v.SHA256)
	}
	if v.Length <= 0 {
		return Errorf(ErrInvalid, "length %d is not positive", v.Length)
	}
	if len(v.Manifest) > 0 && !json.Valid(v.Manifest) {
		return Errorf(ErrInvalid, "manifest is not JSON")
	}
	if len(v.Lineage.EvalReport) > 0 && !json.Valid(v.Lineage.EvalReport) {
		return Errorf(ErrInvalid, "eval report is not JSON")
	}
	if p := v.Lineage.Privacy; p != nil && (!(p.Epsilon >= 0) || !(p.Delta >= 0 && p.Delta < 1)) {
		return Errorf(ErrInvalid, "privacy cost (ε=%g, δ=%g) out of range", p.Epsilon, p.Delta)
	}
	return nil
}

// CheckIncreases returns nil if got is a semver greater than have (or have
// is "", the model's first version), and a *VersionError otherwise.
// Precedence follows semver (build metadata ignored), so "1.0.0+b2" does
// not increase over "1.0.0+b1".
func CheckIncreases(model, have, got string) error {
	gv, err := bundle.ParseVersion(got)
	if err != nil {
		return Errorf(ErrInvalid, "%s", err.Error())
	}
	if have == "" {
		return nil
	}
	hv, err := bundle.ParseVersion(have)
	if err != nil {
		return Errorf(ErrInvalid, "latest version: %s", err.Error())
	}
	if gv.Compare(hv) <= 0 {
		return &VersionError{Model: model, Have: have, Got: got}
	}
	return nil
}
