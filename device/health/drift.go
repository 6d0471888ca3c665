package health

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/sextant-ml/sextant/bundle"
)

// ProvenanceKey is the member of a manifest's provenance that holds the
// training histograms.
const ProvenanceKey = "training_histograms"

// Histogram is a feature's training distribution: Edges are the interior
// bucket boundaries (strictly increasing; bucket i holds x with
// Edges[i-1] ≤ x < Edges[i]) and Proportions the training share of each of
// the len(Edges)+1 buckets (summing to 1).
type Histogram struct {
	Edges       []float64 `json:"edges"`
	Proportions []float64 `json:"proportions"`
}

// Histograms maps an input's name to its training histogram.
type Histograms map[string]Histogram

// Bucket is the bucket of x.
func (h Histogram) Bucket(x float64) int {
	i, found := slices.BinarySearch(h.Edges, x)
	if found {
		i++
	}
	return i
}

// Validate checks the histogram's shape.
func (h Histogram) Validate() error {
	if len(h.Edges) < 1 || len(h.Edges)+1 > MaxDriftBuckets {
		return fmt.Errorf("health: a histogram needs 1–%d edges (got %d)", MaxDriftBuckets-1, len(h.Edges))
	}
	for i, e := range h.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) || i > 0 && e <= h.Edges[i-1] {
			return fmt.Errorf("health: histogram edges must be finite and strictly increasing")
		}
	}
	if len(h.Proportions) != len(h.Edges)+1 {
		return fmt.Errorf("health: %d proportions for %d buckets", len(h.Proportions), len(h.Edges)+1)
	}
	sum := 0.0
	for _, p := range h.Proportions {
		if !(p >= 0) || p > 1 {
			return fmt.Errorf("health: histogram proportion %v outside [0, 1]", p)
		}
		sum += p
	}
	if math.Abs(sum-1) > 1e-6 {
		return fmt.Errorf("health: histogram proportions sum to %v, not 1", sum)
	}
	return nil
}

// Fit returns the training histogram of values with at most buckets
// buckets at their quantiles (ties merge buckets).
func Fit(values []float64, buckets int) (Histogram, error) {
	v := slices.DeleteFunc(slices.Clone(values), func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
	if len(v) == 0 || buckets < 2 || buckets > MaxDriftBuckets {
		return Histogram{}, fmt.Errorf("health: fit needs finite values and 2–%d buckets", MaxDriftBuckets)
	}
	slices.Sort(v)
	var h Histogram
	for i := 1; i < buckets; i++ {
		e := v[i*len(v)/buckets]
		if (len(h.Edges) == 0 || e > h.Edges[len(h.Edges)-1]) && e > v[0] {
			h.Edges = append(h.Edges, e)
		}
	}
	if len(h.Edges) == 0 {
		return Histogram{}, fmt.Errorf("health: all values are equal: no histogram")
	}
	counts := make([]float64, len(h.Edges)+1)
	for _, x := range v {
		counts[h.Bucket(x)]++
	}
	for _, c := range counts {
		h.Proportions = append(h.Proportions, c/float64(len(v)))
	}
	return h, nil
}

// TrainingHistogramsOf reads the training histograms from m's provenance;
// nil without error when the bundle has none.
func TrainingHistogramsOf(m *bundle.Manifest) (Histograms, error) {
	raw, ok := m.Provenance.Unknown[ProvenanceKey]
	if !ok {
		return nil, nil
	}
	var h Histograms
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("health: provenance %s: %w", ProvenanceKey, err)
	}
	for name, x := range h {
		if err := x.Validate(); err != nil {
			return nil, fmt.Errorf("feature %s: %w", name, err)
		}
	}
	return h, nil
}

// SetTrainingHistograms stores h in m's provenance (replacing any).
func SetTrainingHistograms(m *bundle.Manifest, h Histograms) error {
	for name, x := range h {
		if err := x.Validate(); err != nil {
			return fmt.Errorf("feature %s: %w", name, err)
		}
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	if m.Provenance.Unknown == nil {
		m.Provenance.Unknown = map[string]json.RawMessage{}
	}
	m.Provenance.Unknown[ProvenanceKey] = raw
	return nil
}

// PublicHistograms returns the training histograms of m's public inputs
// only: a private input never leaves the device in any form, a sensitive
// one only through its declared coarsening. It returns nil when there are
// none or they do not parse (drift is then simply not collected).
func PublicHistograms(m *bundle.Manifest) Histograms {
	h, err := TrainingHistogramsOf(m)
	if err != nil || len(h) == 0 {
		return nil
	}
	out := Histograms{}
	for _, in := range m.Signature.Inputs {
		if x, ok := h[in.Name]; ok && in.Privacy == bundle.Public && len(out) < MaxDriftFeatures {
			out[in.Name] = x
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
