package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/sextant-ml/sextant/graph"
)

// Shape is a signature shape. In JSON a fixed dimension is a number, a
// symbolic one its name, an unknown one null: ["batch", 32].
type Shape []graph.Dim

// MarshalJSON encodes the shape as described on Shape.
func (s Shape) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, d := range s {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case d.IsFixed():
			b = fmt.Appendf(b, "%d", d.Size)
		case d.Sym != "":
			q, err := json.Marshal(d.Sym)
			if err != nil {
				return nil, err
			}
			b = append(b, q...)
		default:
			b = append(b, "null"...)
		}
	}
	return append(b, ']'), nil
}

// UnmarshalJSON decodes the shape as described on Shape.
func (s *Shape) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("shape: %w", err)
	}
	if raw == nil {
		*s = nil
		return nil
	}
	out := make(Shape, len(raw))
	for i, r := range raw {
		switch {
		case bytes.Equal(r, []byte("null")):
			out[i] = graph.Unknown()
		case len(r) > 0 && r[0] == '"':
			var sym string
			if err := json.Unmarshal(r, &sym); err != nil {
				return fmt.Errorf("shape dimension %d: %w", i, err)
			}
			out[i] = graph.Symbol(sym)
		default:
			var n int64
			if err := json.Unmarshal(r, &n); err != nil || n < 0 {
				return fmt.Errorf("shape dimension %d: want a size >= 0, a name or null, got %s", i, r)
			}
			out[i] = graph.Fixed(n)
		}
	}
	*s = out
	return nil
}

// ShapeOf converts a graph type's shape; an unknown rank gives nil.
func ShapeOf(t graph.Type) Shape {
	if !t.Known {
		return nil
	}
	return slices.Clone(Shape(t.Shape))
}

// decodeKeeping decodes the JSON object b into v (a pointer to a struct with
// no JSON methods) and stores the members v has no field for in *unknown.
// Keys match fields case-insensitively, as encoding/json does.
func decodeKeeping(b []byte, v any, unknown *map[string]json.RawMessage) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	known := knownKeys(reflect.TypeOf(v).Elem())
	*unknown = nil
	for k, raw := range all {
		if isKnown(known, k) {
			continue
		}
		if *unknown == nil {
			*unknown = make(map[string]json.RawMessage)
		}
		(*unknown)[k] = raw
	}
	return nil
}

// encodeKeeping encodes v (a struct with no JSON methods) and appends the
// unknown members, sorted by key, skipping any that collide with a field.
func encodeKeeping(v any, unknown map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(unknown) == 0 {
		return b, err
	}
	known := knownKeys(reflect.TypeOf(v))
	b = b[:len(b)-1] // drop '}'
	empty := len(b) == 1
	for _, k := range sortedKeys(unknown) {
		if isKnown(known, k) || !json.Valid(unknown[k]) {
			continue
		}
		if !empty {
			b = append(b, ',')
		}
		empty = false
		q, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b = append(b, q...)
		b = append(b, ':')
		b = append(b, unknown[k]...)
	}
	return append(b, '}'), nil
}

var knownKeyCache sync.Map // reflect.Type → []string

// knownKeys returns the JSON member names of struct type t's fields.
func knownKeys(t reflect.Type) []string {
	if ks, ok := knownKeyCache.Load(t); ok {
		return ks.([]string)
	}
	var ks []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		ks = append(ks, name)
	}
	knownKeyCache.Store(t, ks)
	return ks
}

func isKnown(known []string, k string) bool {
	for _, n := range known {
		if strings.EqualFold(n, k) {
			return true
		}
	}
	return false
}

// The JSON methods below route every manifest struct through decodeKeeping
// and encodeKeeping. Each converts to a local type without methods to avoid
// recursing into itself.

// UnmarshalJSON decodes a Manifest, keeping unknown members in Unknown.
func (m *Manifest) UnmarshalJSON(b []byte) error {
	type plain Manifest
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Manifest with its unknown members.
func (m Manifest) MarshalJSON() ([]byte, error) {
	type plain Manifest
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Signature, keeping unknown members in Unknown.
func (m *Signature) UnmarshalJSON(b []byte) error {
	type plain Signature
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Signature with its unknown members.
func (m Signature) MarshalJSON() ([]byte, error) {
	type plain Signature
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Input, keeping unknown members in Unknown.
func (m *Input) UnmarshalJSON(b []byte) error {
	type plain Input
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Input with its unknown members.
func (m Input) MarshalJSON() ([]byte, error) {
	type plain Input
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Output, keeping unknown members in Unknown.
func (m *Output) UnmarshalJSON(b []byte) error {
	type plain Output
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Output with its unknown members.
func (m Output) MarshalJSON() ([]byte, error) {
	type plain Output
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Coarsening, keeping unknown members in Unknown.
func (m *Coarsening) UnmarshalJSON(b []byte) error {
	type plain Coarsening
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Coarsening with its unknown members.
func (m Coarsening) MarshalJSON() ([]byte, error) {
	type plain Coarsening
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Quantization, keeping unknown members in Unknown.
func (m *Quantization) UnmarshalJSON(b []byte) error {
	type plain Quantization
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Quantization with its unknown members.
func (m Quantization) MarshalJSON() ([]byte, error) {
	type plain Quantization
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a QuantParams, keeping unknown members in Unknown.
func (m *QuantParams) UnmarshalJSON(b []byte) error {
	type plain QuantParams
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a QuantParams with its unknown members.
func (m QuantParams) MarshalJSON() ([]byte, error) {
	type plain QuantParams
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a FineTuning, keeping unknown members in Unknown.
func (m *FineTuning) UnmarshalJSON(b []byte) error {
	type plain FineTuning
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a FineTuning with its unknown members.
func (m FineTuning) MarshalJSON() ([]byte, error) {
	type plain FineTuning
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Optimizer, keeping unknown members in Unknown.
func (m *Optimizer) UnmarshalJSON(b []byte) error {
	type plain Optimizer
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Optimizer with its unknown members.
func (m Optimizer) MarshalJSON() ([]byte, error) {
	type plain Optimizer
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Calibration, keeping unknown members in Unknown.
func (m *Calibration) UnmarshalJSON(b []byte) error {
	type plain Calibration
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Calibration with its unknown members.
func (m Calibration) MarshalJSON() ([]byte, error) {
	type plain Calibration
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a ServerVariant, keeping unknown members in Unknown.
func (m *ServerVariant) UnmarshalJSON(b []byte) error {
	type plain ServerVariant
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a ServerVariant with its unknown members.
func (m ServerVariant) MarshalJSON() ([]byte, error) {
	type plain ServerVariant
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Golden, keeping unknown members in Unknown.
func (m *Golden) UnmarshalJSON(b []byte) error {
	type plain Golden
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Golden with its unknown members.
func (m Golden) MarshalJSON() ([]byte, error) {
	type plain Golden
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a TensorRef, keeping unknown members in Unknown.
func (m *TensorRef) UnmarshalJSON(b []byte) error {
	type plain TensorRef
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a TensorRef with its unknown members.
func (m TensorRef) MarshalJSON() ([]byte, error) {
	type plain TensorRef
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Tolerance, keeping unknown members in Unknown.
func (m *Tolerance) UnmarshalJSON(b []byte) error {
	type plain Tolerance
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Tolerance with its unknown members.
func (m Tolerance) MarshalJSON() ([]byte, error) {
	type plain Tolerance
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Provenance, keeping unknown members in Unknown.
func (m *Provenance) UnmarshalJSON(b []byte) error {
	type plain Provenance
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Provenance with its unknown members.
func (m Provenance) MarshalJSON() ([]byte, error) {
	type plain Provenance
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a PrivacyCost, keeping unknown members in Unknown.
func (m *PrivacyCost) UnmarshalJSON(b []byte) error {
	type plain PrivacyCost
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a PrivacyCost with its unknown members.
func (m PrivacyCost) MarshalJSON() ([]byte, error) {
	type plain PrivacyCost
	return encodeKeeping(plain(m), m.Unknown)
}

// UnmarshalJSON decodes a Producer, keeping unknown members in Unknown.
func (m *Producer) UnmarshalJSON(b []byte) error {
	type plain Producer
	return decodeKeeping(b, (*plain)(m), &m.Unknown)
}

// MarshalJSON encodes a Producer with its unknown members.
func (m Producer) MarshalJSON() ([]byte, error) {
	type plain Producer
	return encodeKeeping(plain(m), m.Unknown)
}
