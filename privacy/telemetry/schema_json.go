package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// schemaJSON is Schema's file form: retention as a Go duration string
// ("168h").
type schemaJSON struct {
	Name        string    `json:"name"`
	Fields      []Field   `json:"fields"`
	Mechanism   Mechanism `json:"mechanism"`
	Epsilon     float64   `json:"epsilon,omitempty"`
	DailyBudget float64   `json:"daily_budget,omitempty"`
	Retention   string    `json:"retention"`
	M           int       `json:"m,omitempty"`
	K           int       `json:"k,omitempty"`
	Seeds       []uint64  `json:"seeds,omitempty"`
}

// MarshalJSON writes the retention as a duration string.
func (s Schema) MarshalJSON() ([]byte, error) {
	return json.Marshal(schemaJSON{Name: s.Name, Fields: s.Fields, Mechanism: s.Mechanism, Epsilon: s.Epsilon,
		DailyBudget: s.DailyBudget, Retention: s.Retention.String(), M: s.M, K: s.K, Seeds: s.Seeds})
}

// UnmarshalJSON reads the file form, refusing unknown keys.
func (s *Schema) UnmarshalJSON(b []byte) error {
	var j schemaJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("telemetry: schema: %w", err)
	}
	d, err := time.ParseDuration(j.Retention)
	if err != nil {
		return fmt.Errorf("telemetry: schema %s: retention: %w", j.Name, err)
	}
	*s = Schema{Name: j.Name, Fields: j.Fields, Mechanism: j.Mechanism, Epsilon: j.Epsilon,
		DailyBudget: j.DailyBudget, Retention: d, M: j.M, K: j.K, Seeds: j.Seeds}
	return nil
}

// ParseRegistry reads a JSON array of schemas (a declaration file) and
// validates each; unknown keys are refused, so a misspelt key cannot
// silently drop a constraint.
func ParseRegistry(data []byte) (*Registry, error) {
	var schemas []Schema
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&schemas); err != nil {
		return nil, fmt.Errorf("telemetry: schemas: %w", err)
	}
	return NewRegistry(schemas...)
}
