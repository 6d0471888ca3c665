package telemetry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sextant-ml/sextant/privacy/ldp"
)

// FieldType is a declared field's type.
type FieldType string

// Field types.
const (
	String FieldType = "string"
	Int    FieldType = "int"
	Bool   FieldType = "bool"
)

// Field is a declared field of a stream.
type Field struct {
	Name string    `json:"name"`
	Type FieldType `json:"type"`
}

// Mechanism names a stream's privacy mechanism.
type Mechanism string

// Mechanisms.
const (
	// None sends the item in the clear: only for public counters.
	None Mechanism = "none"
	CMS  Mechanism = "cms"
	HCMS Mechanism = "hcms"
	// Central streams are never privatized on the device: their values
	// ride the authenticated check-in to the server, which releases only
	// central-DP aggregates of them (privacy/aggregate) with contribution
	// bounding per device. Epsilon is then the ε of one server release and
	// DailyBudget the ε the server may spend on releases per UTC day; the
	// server charges each release to a Ledger. Encoder refuses them.
	Central Mechanism = "central"
)

// Schema declares a telemetry stream.
type Schema struct {
	Name      string    `json:"name"`
	Fields    []Field   `json:"fields"`
	Mechanism Mechanism `json:"mechanism"`
	// Epsilon is the ε of one report (0 for None).
	Epsilon float64 `json:"epsilon"`
	// DailyBudget is the ε a device may spend on the stream per UTC day.
	DailyBudget float64 `json:"daily_budget"`
	// Retention is how long the server keeps raw reports before deleting
	// them (they are deleted once aggregated, and never later than this).
	Retention time.Duration `json:"retention"`
	// M and K shape the sketch; Seeds key its K hash functions. They are
	// public and shared with the server.
	M     int      `json:"m,omitempty"`
	K     int      `json:"k,omitempty"`
	Seeds []uint64 `json:"seeds,omitempty"`
}

// Limits that schemas must respect (and the wire parser enforces).
const (
	MaxNameLen    = 64
	MaxFields     = 16
	MaxSketchRows = 1 << 10
	MaxSketchBits = 1 << 16
	MaxRetention  = 400 * 24 * time.Hour
)

func validName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks the declaration.
func (s *Schema) Validate() error {
	if !validName(s.Name) {
		return fmt.Errorf("telemetry: stream name %q must be 1–%d characters of [a-z0-9_.-]", s.Name, MaxNameLen)
	}
	if len(s.Fields) == 0 || len(s.Fields) > MaxFields {
		return fmt.Errorf("telemetry: stream %s declares %d fields (want 1–%d)", s.Name, len(s.Fields), MaxFields)
	}
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if !validName(f.Name) {
			return fmt.Errorf("telemetry: stream %s: field name %q must be 1–%d characters of [a-z0-9_.-]", s.Name, f.Name, MaxNameLen)
		}
		if seen[f.Name] {
			return fmt.Errorf("telemetry: stream %s declares field %s twice", s.Name, f.Name)
		}
		seen[f.Name] = true
		switch f.Type {
		case String, Int, Bool:
		default:
			return fmt.Errorf("telemetry: stream %s: field %s has unknown type %q", s.Name, f.Name, f.Type)
		}
	}
	if !(s.Retention > 0) || s.Retention > MaxRetention {
		return fmt.Errorf("telemetry: stream %s: retention %v must be in (0, %v]", s.Name, s.Retention, MaxRetention)
	}
	switch s.Mechanism {
	case None:
		if s.Epsilon != 0 || s.DailyBudget != 0 || s.M != 0 || s.K != 0 || len(s.Seeds) != 0 {
			return fmt.Errorf("telemetry: stream %s: mechanism none takes no ε, budget or sketch", s.Name)
		}
		return nil
	case Central:
		if s.M != 0 || s.K != 0 || len(s.Seeds) != 0 {
			return fmt.Errorf("telemetry: stream %s: mechanism central takes no sketch", s.Name)
		}
		if !(s.Epsilon > 0) || math.IsInf(s.Epsilon, 1) || !(s.DailyBudget >= s.Epsilon) || math.IsInf(s.DailyBudget, 1) {
			return fmt.Errorf("telemetry: stream %s: central ε per release %v must be positive and at most the finite daily budget %v", s.Name, s.Epsilon, s.DailyBudget)
		}
		return nil
	case CMS, HCMS:
	default:
		return fmt.Errorf("telemetry: stream %s: unknown mechanism %q (want cms, hcms, central or none)", s.Name, s.Mechanism)
	}
	if !(s.Epsilon > 0) || math.IsInf(s.Epsilon, 1) {
		return fmt.Errorf("telemetry: stream %s: ε per report %v must be positive and finite", s.Name, s.Epsilon)
	}
	if !(s.DailyBudget >= s.Epsilon) || math.IsInf(s.DailyBudget, 1) {
		return fmt.Errorf("telemetry: stream %s: daily budget %v must be finite and at least one report's ε %v", s.Name, s.DailyBudget, s.Epsilon)
	}
	if s.M < 2 || s.M > MaxSketchBits || s.K < 1 || s.K > MaxSketchRows {
		return fmt.Errorf("telemetry: stream %s: sketch m=%d k=%d outside m ∈ [2, %d], k ∈ [1, %d]", s.Name, s.M, s.K, MaxSketchBits, MaxSketchRows)
	}
	if s.Mechanism == HCMS && s.M&(s.M-1) != 0 {
		return fmt.Errorf("telemetry: stream %s: hcms needs m a power of two (got %d)", s.Name, s.M)
	}
	if len(s.Seeds) != s.K {
		return fmt.Errorf("telemetry: stream %s: %d hash seeds for k=%d", s.Name, len(s.Seeds), s.K)
	}
	return nil
}

// Params returns the stream's sketch parameters (for cms and hcms streams).
func (s *Schema) Params() ldp.Params {
	mech := ldp.CMS
	if s.Mechanism == HCMS {
		mech = ldp.HCMS
	}
	return ldp.Params{Mechanism: mech, Epsilon: s.Epsilon, M: s.M, K: s.K, Seeds: s.Seeds}
}

// Registry is a validated set of schemas.
type Registry struct {
	streams map[string]*Schema
}

// NewRegistry validates the schemas and indexes them by name.
func NewRegistry(schemas ...Schema) (*Registry, error) {
	r := &Registry{streams: map[string]*Schema{}}
	for i := range schemas {
		s := schemas[i]
		if err := s.Validate(); err != nil {
			return nil, err
		}
		if _, dup := r.streams[s.Name]; dup {
			return nil, fmt.Errorf("telemetry: stream %s declared twice", s.Name)
		}
		s.Fields = append([]Field(nil), s.Fields...)
		s.Seeds = append([]uint64(nil), s.Seeds...)
		r.streams[s.Name] = &s
	}
	return r, nil
}

// Lookup returns the declared schema of a stream.
func (r *Registry) Lookup(name string) (*Schema, error) {
	s, ok := r.streams[name]
	if !ok {
		return nil, &UnknownStreamError{Stream: name}
	}
	return s, nil
}

// UnknownStreamError reports a stream that no schema declares.
type UnknownStreamError struct{ Stream string }

func (e *UnknownStreamError) Error() string {
	return fmt.Sprintf("telemetry: stream %q is not declared", e.Stream)
}

// UndeclaredFieldError reports a value for a field the stream's schema does
// not declare; nothing is encoded.
type UndeclaredFieldError struct{ Stream, Field string }

func (e *UndeclaredFieldError) Error() string {
	return fmt.Sprintf("telemetry: stream %s does not declare field %q", e.Stream, e.Field)
}

// FieldError reports a declared field that is missing or has a value of the
// wrong type.
type FieldError struct {
	Stream, Field string
	Err           error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("telemetry: stream %s field %s: %v", e.Stream, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errors wrapped by FieldError.
var (
	ErrMissingField = errors.New("missing")
	ErrFieldType    = errors.New("wrong type")
)

// Item is the canonical item of a report: the declared fields in schema
// order, each as a uvarint length and its bytes (strings as is, ints in
// decimal, bools as "true"/"false"). The server builds dictionary candidates
// with the same function. values must hold exactly the declared fields:
// string, int64 or int, bool.
func (s *Schema) Item(values map[string]any) (string, error) {
	undeclared := ""
	for name := range values {
		if !s.declares(name) && (undeclared == "" || name < undeclared) {
			undeclared = name
		}
	}
	if undeclared != "" {
		return "", &UndeclaredFieldError{Stream: s.Name, Field: undeclared}
	}
	var b []byte
	for _, f := range s.Fields {
		v, ok := values[f.Name]
		if !ok {
			return "", &FieldError{Stream: s.Name, Field: f.Name, Err: ErrMissingField}
		}
		var enc []byte
		switch f.Type {
		case String:
			x, ok := v.(string)
			if !ok {
				return "", &FieldError{Stream: s.Name, Field: f.Name, Err: fmt.Errorf("%w: %T, want string", ErrFieldType, v)}
			}
			enc = []byte(x)
		case Int:
			switch x := v.(type) {
			case int64:
				enc = strconv.AppendInt(nil, x, 10)
			case int:
				enc = strconv.AppendInt(nil, int64(x), 10)
			default:
				return "", &FieldError{Stream: s.Name, Field: f.Name, Err: fmt.Errorf("%w: %T, want int", ErrFieldType, v)}
			}
		case Bool:
			x, ok := v.(bool)
			if !ok {
				return "", &FieldError{Stream: s.Name, Field: f.Name, Err: fmt.Errorf("%w: %T, want bool", ErrFieldType, v)}
			}
			enc = strconv.AppendBool(nil, x)
		}
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return string(b), nil
}

func (s *Schema) declares(name string) bool {
	for _, f := range s.Fields {
		if f.Name == name {
			return true
		}
	}
	return false
}
