package eval

import (
	"fmt"
	"math"
	"strings"
)

// GateResult is one gate applied to one slice (or one profile).
type GateResult struct {
	// Gate describes the gate, e.g. "acc@1 max_drop 0.005".
	Gate   string `json:"gate"`
	Metric string `json:"metric"`
	// Slice is the slice key, or "profile:NAME" for a profile gate.
	Slice    string `json:"slice"`
	Examples int    `json:"examples,omitempty"`
	// Pass is true when every threshold held (or the slice was skipped).
	Pass bool `json:"pass"`
	// Skipped is true when the slice had fewer than min_examples.
	Skipped bool `json:"skipped,omitempty"`
	// Reason explains a failure or a skip.
	Reason string `json:"reason,omitempty"`
}

// Check applies the gates to r, appending to r.Gates and clearing r.Pass
// when any fails. A gate that selects no slice, or no profile, fails: a
// gate that checks nothing is a mistake in the gates file.
func (g *Gates) Check(r *Report) {
	for _, gt := range g.Gates {
		var res []GateResult
		if IsProfileMetric(gt.Metric) {
			res = gt.checkProfiles(r)
		} else {
			res = gt.checkSlices(r)
		}
		if len(res) == 0 {
			res = []GateResult{{Gate: gt.String(), Metric: gt.Metric, Reason: "no slice or profile matched"}}
		}
		for _, x := range res {
			r.Pass = r.Pass && x.Pass
		}
		r.Gates = append(r.Gates, res...)
	}
}

func (gt Gate) checkSlices(r *Report) []GateResult {
	m, err := Lookup(gt.Metric)
	if err != nil {
		return []GateResult{{Gate: gt.String(), Metric: gt.Metric, Reason: err.Error()}}
	}
	var out []GateResult
	for i := range r.Slices {
		s := &r.Slices[i]
		if !gt.Slices.matches(s) {
			continue
		}
		res := GateResult{Gate: gt.String(), Metric: m.Name(), Slice: s.Key, Examples: s.Examples}
		if s.Examples < gt.MinExamples {
			res.Pass, res.Skipped = true, true
			res.Reason = fmt.Sprintf("%d examples < min_examples %d", s.Examples, gt.MinExamples)
			out = append(out, res)
			continue
		}
		est, ok := s.Metrics[m.Name()]
		if !ok {
			res.Reason = "metric not computed"
			out = append(out, res)
			continue
		}
		fails := gt.thresholds(est, m.HigherIsBetter())
		res.Pass = len(fails) == 0
		res.Reason = strings.Join(fails, "; ")
		out = append(out, res)
	}
	return out
}

// thresholds returns the failed conditions of a metric gate.
func (gt Gate) thresholds(e Estimate, higherBetter bool) []string {
	ci := gt.Bound == "ci"
	var fails []string
	fail := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	low, high := float64(e.Candidate), float64(e.Candidate)
	what := "candidate"
	if ci {
		low, high = float64(e.CandidateCI.Lo), float64(e.CandidateCI.Hi)
		what = "candidate CI"
	}
	if gt.Min != nil && !(low >= *gt.Min) {
		fail("%s %.4g < min %g", what, low, *gt.Min)
	}
	if gt.Max != nil && !(high <= *gt.Max) {
		fail("%s %.4g > max %g", what, high, *gt.Max)
	}
	if gt.MaxDrop == nil && gt.MinGain == nil {
		return fails
	}
	if e.Diff == nil {
		return append(fails, "needs a baseline")
	}
	// gain > 0 means the candidate is better; worst is the pessimistic
	// gain the bound allows.
	sign := 1.0
	if !higherBetter {
		sign = -1
	}
	worst := sign * float64(*e.Diff)
	if ci {
		worst = math.Min(sign*float64(e.DiffCI.Lo), sign*float64(e.DiffCI.Hi))
	}
	if gt.MaxDrop != nil && !(-worst <= *gt.MaxDrop+1e-12) {
		fail("drop %.4g vs baseline > max_drop %g", -worst, *gt.MaxDrop)
	}
	if gt.MinGain != nil && !(worst >= *gt.MinGain-1e-12) {
		fail("gain %.4g vs baseline < min_gain %g", worst, *gt.MinGain)
	}
	return fails
}

func (gt Gate) checkProfiles(r *Report) []GateResult {
	var out []GateResult
	for i := range r.Profiles {
		p := &r.Profiles[i]
		if gt.Profile != "" && gt.Profile != p.Profile {
			continue
		}
		res := GateResult{Gate: gt.String(), Metric: gt.Metric, Slice: "profile:" + p.Profile}
		var fails []string
		switch {
		case p.Error != "":
			fails = append(fails, p.Error)
		case gt.Metric == "budgets":
			fails = p.Violations
		default:
			v := profileMetrics[gt.Metric](p)
			if gt.Min != nil && !(v >= *gt.Min) {
				fails = append(fails, fmt.Sprintf("%s %.4g < min %g", gt.Metric, v, *gt.Min))
			}
			if gt.Max != nil && !(v <= *gt.Max) {
				fails = append(fails, fmt.Sprintf("%s %.4g > max %g", gt.Metric, v, *gt.Max))
			}
		}
		res.Pass = len(fails) == 0
		res.Reason = strings.Join(fails, "; ")
		out = append(out, res)
	}
	return out
}
