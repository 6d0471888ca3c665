package eval

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Gates is a gates file: optional slice definitions (so numeric columns
// can be binned where the gates are written) and the gates. The file is
// either a mapping with keys "slices" and "gates", or just the list of
// gates:
//
//	slices:
//	  - column: hour_of_week
//	    edges: [42, 84, 126]
//	  - column: user_type
//	gates:
//	  - metric: acc@1
//	    max_drop: 0.005     # not worse than the baseline by more than 0.5 points
//	    slices: all         # on the whole set and on every slice …
//	    min_examples: 200   # … with at least 200 examples
//	  - metric: acc@5
//	    min: 0.85
//	  - metric: budgets     # every device profile within its budgets
type Gates struct {
	Slices []SliceSpec `yaml:"slices"`
	Gates  []Gate      `yaml:"gates"`
}

// Gate is one condition. A metric gate checks one metric on the slices
// Slices selects, skipping slices smaller than MinExamples. Its thresholds
// (any combination) are:
//
//   - Min / Max: bounds on the candidate's value;
//   - MaxDrop: the candidate may be worse than the baseline by at most this
//     much, "worse" meaning lower for a higher-is-better metric and higher
//     otherwise (needs a baseline);
//   - MinGain: the candidate must be better than the baseline by at least
//     this much (needs a baseline).
//
// Bound "point" (the default) compares the point estimates; "ci" compares
// the pessimistic end of the bootstrap interval instead (the candidate's
// interval for Min/Max, the paired difference's for MaxDrop/MinGain), a
// non-inferiority test at the report's confidence.
//
// A profile gate names a profile measurement as its metric —
// latency_p50_us, latency_p95_us, latency_p99_us, device_p95_us,
// arena_bytes, cpu_us_per_inference, energy_joules — with Min/Max, or
// "budgets" to require every profile within its budgets. Profile picks one
// profile; empty means every profile measured.
type Gate struct {
	Metric      string    `yaml:"metric"`
	Min         *float64  `yaml:"min"`
	Max         *float64  `yaml:"max"`
	MaxDrop     *float64  `yaml:"max_drop"`
	MinGain     *float64  `yaml:"min_gain"`
	Bound       string    `yaml:"bound"`
	Slices      Selection `yaml:"slices"`
	MinExamples int       `yaml:"min_examples"`
	Profile     string    `yaml:"profile"`
}

// Selection picks slices: "overall" (the default: the whole data set
// only), "all" (the whole set and every slice), a column name (every slice
// of that column) or a slice key "COLUMN=VALUE". YAML takes one or a list.
type Selection []string

// UnmarshalYAML reads a scalar or a sequence.
func (s *Selection) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = Selection{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*s = list
		return nil
	}
	return fmt.Errorf("line %d: slices must be a name or a list of names", n.Line)
}

func (s Selection) matches(r *SliceResult) bool {
	if len(s) == 0 {
		return r.Key == "all"
	}
	for _, x := range s {
		switch {
		case x == "all", x == r.Key, x == "overall" && r.Key == "all", r.Column != "" && x == r.Column:
			return true
		}
	}
	return false
}

// profileMetrics are the measurements a profile gate can bound.
var profileMetrics = map[string]func(*ProfileResult) float64{
	"latency_p50_us":       func(p *ProfileResult) float64 { return float64(p.Latency.P50) },
	"latency_p95_us":       func(p *ProfileResult) float64 { return float64(p.Latency.P95) },
	"latency_p99_us":       func(p *ProfileResult) float64 { return float64(p.Latency.P99) },
	"device_p95_us":        func(p *ProfileResult) float64 { return float64(p.DeviceP95) },
	"arena_bytes":          func(p *ProfileResult) float64 { return float64(p.ArenaBytes) },
	"cpu_us_per_inference": func(p *ProfileResult) float64 { return float64(p.CPUPerInference) },
	"energy_joules":        func(p *ProfileResult) float64 { return float64(p.Energy) },
}

// IsProfileMetric reports whether a gate's metric is a profile
// measurement rather than a model metric.
func IsProfileMetric(name string) bool {
	_, ok := profileMetrics[name]
	return ok || name == "budgets"
}

// ReadGates parses a gates file.
func ReadGates(r io.Reader) (*Gates, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("eval: gates: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("eval: gates: %w", err)
	}
	g := &Gates{}
	if len(root.Content) > 0 && root.Content[0].Kind == yaml.SequenceNode {
		err = decodeStrict(b, &g.Gates)
	} else {
		err = decodeStrict(b, g)
	}
	if err != nil {
		return nil, fmt.Errorf("eval: gates: %w", err)
	}
	return g, g.Validate()
}

// decodeStrict decodes YAML rejecting unknown keys, so a misspelt
// threshold is not silently ignored.
func decodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// ReadGatesFile parses the gates file at path.
func ReadGatesFile(path string) (*Gates, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: gates: %w", err)
	}
	defer f.Close()
	g, err := ReadGates(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Validate checks every gate names a metric and a threshold.
func (g *Gates) Validate() error {
	var errs []error
	for i, gt := range g.Gates {
		if gt.Metric == "" {
			errs = append(errs, fmt.Errorf("gate %d: no metric", i+1))
			continue
		}
		if gt.Metric == "budgets" {
			continue
		}
		if gt.Min == nil && gt.Max == nil && gt.MaxDrop == nil && gt.MinGain == nil {
			errs = append(errs, fmt.Errorf("gate %d (%s): no threshold (min, max, max_drop or min_gain)", i+1, gt.Metric))
		}
		if gt.Bound != "" && gt.Bound != "point" && gt.Bound != "ci" {
			errs = append(errs, fmt.Errorf("gate %d (%s): bound %q is neither point nor ci", i+1, gt.Metric, gt.Bound))
		}
		if IsProfileMetric(gt.Metric) {
			if gt.MaxDrop != nil || gt.MinGain != nil {
				errs = append(errs, fmt.Errorf("gate %d (%s): a profile measurement takes min or max", i+1, gt.Metric))
			}
			continue
		}
		if _, err := Lookup(gt.Metric); err != nil {
			errs = append(errs, fmt.Errorf("gate %d: %w", i+1, err))
		}
	}
	for _, s := range g.Slices {
		if err := s.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Metrics lists the model metrics the gates need, canonically named.
func (g *Gates) Metrics() []string {
	var out []string
	for _, gt := range g.Gates {
		if IsProfileMetric(gt.Metric) {
			continue
		}
		if m, err := Lookup(gt.Metric); err == nil {
			out = append(out, m.Name())
		}
	}
	return out
}

// String describes the gate in one line, e.g. "acc@1 max_drop 0.005".
func (gt Gate) String() string {
	var parts []string
	parts = append(parts, gt.Metric)
	add := func(name string, v *float64) {
		if v != nil {
			parts = append(parts, fmt.Sprintf("%s %g", name, *v))
		}
	}
	add("min", gt.Min)
	add("max", gt.Max)
	add("max_drop", gt.MaxDrop)
	add("min_gain", gt.MinGain)
	if gt.Bound == "ci" {
		parts = append(parts, "(ci)")
	}
	if gt.Profile != "" {
		parts = append(parts, "on "+gt.Profile)
	}
	return strings.Join(parts, " ")
}
