package eval

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
)

// Schema names the JSON report's layout; it changes only when keys are
// removed or change meaning (added keys keep it).
const Schema = "sextant.eval/v1"

// Num is a float64 that writes NaN and infinities as JSON null (a metric
// with no defined value, e.g. MAPE on only zero labels).
type Num float64

// MarshalJSON writes the number, or null when it is not finite.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number or null (NaN).
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Report is the result of an evaluation. Its JSON form (schema
// "sextant.eval/v1") is documented field by field here; keys are stable.
type Report struct {
	Schema string `json:"schema"`
	// Model describes the candidate.
	Model ModelInfo `json:"model"`
	// Data describes the data set.
	Data DataInfo `json:"data"`
	// Task is ranking, classification or regression.
	Task Task `json:"task"`
	// Labels is the label column.
	Labels string `json:"labels"`
	// Scores is how the candidate's scores were read (logits or
	// probabilities); empty for regression.
	Scores ScoreKind `json:"scores,omitempty"`
	// Baseline describes the model compared against; absent without one.
	Baseline *ModelInfo `json:"baseline,omitempty"`
	// Bootstrap is the resampling used for every interval.
	Bootstrap Bootstrap `json:"bootstrap"`
	// ECEBins is the number of equal-width bins of ECE and the reliability
	// diagram.
	ECEBins int `json:"ece_bins"`
	// Metrics lists the metrics in report order.
	Metrics []MetricInfo `json:"metrics"`
	// Slices holds the estimates, the whole data set ("all") first.
	Slices []SliceResult `json:"slices"`
	// Calibration is the reliability diagram over all examples (ranking
	// and classification only).
	Calibration *Calibration `json:"calibration,omitempty"`
	// RiskCoverage is the candidate's risk–coverage curve over all
	// examples (ranking and classification only): error rate against the
	// fraction answered as the confidence threshold sweeps.
	RiskCoverage *RiskCoverage `json:"risk_coverage,omitempty"`
	// Profiles holds the candidate's cost under each device profile.
	Profiles []ProfileResult `json:"profiles,omitempty"`
	// Gates holds one result per gate and slice it applied to.
	Gates []GateResult `json:"gates,omitempty"`
	// Pass is false when any gate failed.
	Pass bool `json:"pass"`
}

// ModelInfo names a model or baseline.
type ModelInfo struct {
	// Name is the bundle's manifest name or the built-in baseline's name.
	Name string `json:"name"`
	// Version is the manifest version; empty for built-ins.
	Version string `json:"version,omitempty"`
	// Path is the bundle file; empty for built-ins.
	Path string `json:"path,omitempty"`
	// Kind is "model" or "builtin".
	Kind string `json:"kind"`
}

// DataInfo describes the data set.
type DataInfo struct {
	Path     string `json:"path"`
	Format   string `json:"format"`
	Examples int    `json:"examples"`
}

// MetricInfo describes one metric.
type MetricInfo struct {
	Name           string `json:"name"`
	HigherIsBetter bool   `json:"higher_is_better"`
}

// SliceResult holds every metric's estimate on one slice.
type SliceResult struct {
	// Key is "all" or "COLUMN=VALUE".
	Key    string `json:"key"`
	Column string `json:"column,omitempty"`
	Value  string `json:"value"`
	// Examples is the slice's size.
	Examples int `json:"examples"`
	// Metrics maps a metric name to its estimate.
	Metrics map[string]Estimate `json:"metrics"`
}

// Calibration is a reliability diagram for the candidate and, when it
// produces scores, the baseline.
type Calibration struct {
	Candidate []Bin `json:"candidate"`
	Baseline  []Bin `json:"baseline,omitempty"`
}

// Slice returns the result with the given key.
func (r *Report) Slice(key string) (*SliceResult, bool) {
	for i := range r.Slices {
		if r.Slices[i].Key == key {
			return &r.Slices[i], true
		}
	}
	return nil, false
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
