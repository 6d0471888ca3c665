package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/privacy/ldp"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// TelemetryEstimates is the answer of GET /v1/admin/telemetry/{stream}.
type TelemetryEstimates struct {
	Stream    string  `json:"stream"`
	Mechanism string  `json:"mechanism"`
	Epsilon   float64 `json:"epsilon,omitempty"`
	M         int     `json:"m,omitempty"`
	K         int     `json:"k,omitempty"`
	// Reports is how many reports the aggregate holds (since start).
	Reports int `json:"reports"`
	// NoiseSD is the standard deviation of one estimate from the privacy
	// noise and row choice alone (an item of count 0, no collisions).
	NoiseSD float64 `json:"noise_sd,omitempty"`
	// Estimates holds the debiased count of each candidate asked for
	// (cms, hcms) or the exact count of each item seen (none).
	Estimates []TelemetryEstimate `json:"estimates"`
	// Other counts none-stream reports past the distinct-item bound.
	Other int `json:"other,omitempty"`
}

// TelemetryEstimate is one item's estimated count.
type TelemetryEstimate struct {
	Values   map[string]any `json:"values"`
	Estimate float64        `json:"estimate"`
}

// maxCandidates bounds the candidates of one estimate query.
const maxCandidates = 10_000

// telemetryEstimates answers a stream's aggregate. For cms and hcms
// streams, the query parameter candidates is a JSON array of field-value
// objects (the dictionary to estimate over); without it the answer is the
// sketch summary. For none streams every counted item is listed.
func (s *Server) telemetryEstimates(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("stream")
	c.target = name
	var cands []map[string]any
	if q := r.URL.Query().Get("candidates"); q != "" {
		dec := json.NewDecoder(bytes.NewReader([]byte(q)))
		dec.UseNumber()
		if err := dec.Decode(&cands); err != nil {
			return delivery.Errorf(delivery.ErrInvalid, "candidates: %v", err)
		}
		if len(cands) > maxCandidates {
			return delivery.Errorf(delivery.ErrInvalid, "more than %d candidates", maxCandidates)
		}
	}
	out, err := s.estimates(name, cands)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// estimates reads a stream's aggregate: each candidate's estimated count
// for cms and hcms streams, every counted item for none streams.
func (s *Server) estimates(name string, cands []map[string]any) (TelemetryEstimates, error) {
	agg := s.telemetry.streams[name]
	if agg == nil {
		return TelemetryEstimates{}, delivery.Errorf(delivery.ErrNotFound, "stream %q is not declared", name)
	}
	sc := agg.schema
	items := make([]string, len(cands))
	for i, cand := range cands {
		vals, err := typedValues(sc, cand)
		if err != nil {
			return TelemetryEstimates{}, err
		}
		if items[i], err = sc.Item(vals); err != nil {
			return TelemetryEstimates{}, delivery.Errorf(delivery.ErrInvalid, "candidate %d: %v", i, err)
		}
		cands[i] = vals
	}
	out := TelemetryEstimates{Stream: sc.Name, Mechanism: string(sc.Mechanism), Estimates: []TelemetryEstimate{}}
	agg.mu.Lock()
	out.Reports, out.Other = agg.n, agg.other
	if agg.sketch != nil {
		for i, item := range items {
			out.Estimates = append(out.Estimates, TelemetryEstimate{Values: cands[i], Estimate: agg.sketch.Estimate(item)})
		}
	} else {
		for item, n := range agg.public {
			out.Estimates = append(out.Estimates, TelemetryEstimate{Values: decodeItem(sc, item), Estimate: float64(n)})
		}
	}
	agg.mu.Unlock()
	if sc.Mechanism != telemetry.None {
		out.Epsilon, out.M, out.K = sc.Epsilon, sc.M, sc.K
		mech := ldp.CMS
		if sc.Mechanism == telemetry.HCMS {
			mech = ldp.HCMS
		}
		out.NoiseSD = math.Sqrt(ldp.AnalyticVariance(mech, sc.Epsilon, sc.M, sc.K, float64(out.Reports), 0, 0))
	} else {
		sort.Slice(out.Estimates, func(i, j int) bool { return out.Estimates[i].Estimate > out.Estimates[j].Estimate })
	}
	return out, nil
}

// typedValues converts a JSON candidate's values to the schema's Go types
// (ints arrive as json.Number).
func typedValues(sc *telemetry.Schema, cand map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(cand))
	for _, f := range sc.Fields {
		v, ok := cand[f.Name]
		if !ok {
			continue // Item reports the missing field
		}
		if f.Type == telemetry.Int {
			if n, isNum := v.(json.Number); isNum {
				i, err := n.Int64()
				if err != nil {
					return nil, delivery.Errorf(delivery.ErrInvalid, "candidate field %s: %v", f.Name, err)
				}
				v = i
			}
		}
		out[f.Name] = v
	}
	for k, v := range cand {
		if _, done := out[k]; !done {
			out[k] = v // undeclared: Item refuses it
		}
	}
	return out, nil
}

// decodeItem is Schema.Item's inverse for display: each declared field's
// bytes as a string.
func decodeItem(sc *telemetry.Schema, item string) map[string]any {
	out := map[string]any{}
	b := []byte(item)
	for _, f := range sc.Fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			out[f.Name] = nil
			continue
		}
		out[f.Name] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	return out
}

// TelemetryEstimates reads a stream's aggregate (read scope), estimating
// each candidate's count for cms and hcms streams.
func (c *Client) TelemetryEstimates(ctx context.Context, stream string, candidates []map[string]any) (TelemetryEstimates, error) {
	var out TelemetryEstimates
	path := "/v1/admin/telemetry/" + url.PathEscape(stream)
	if len(candidates) > 0 {
		b, err := json.Marshal(candidates)
		if err != nil {
			return out, fmt.Errorf("server client: candidates: %w", err)
		}
		path += "?candidates=" + url.QueryEscape(string(b))
	}
	err := c.do(ctx, http.MethodGet, path, nil, nil, 0, &out)
	return out, err
}
