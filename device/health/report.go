package health

import (
	"errors"
	"fmt"
	"sort"

	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// Entry is one (model, version)'s health counters since the last report.
type Entry struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	// Loads counts load attempts, LoadFailures those that failed.
	Loads        int64 `json:"loads,omitempty"`
	LoadFailures int64 `json:"load_failures,omitempty"`
	// Inferences counts served requests, InferenceErrors failed ones.
	Inferences      int64 `json:"inferences,omitempty"`
	InferenceErrors int64 `json:"inference_errors,omitempty"`
	// Latency counts requests per LatencyBucketsMs bucket (nil: none).
	Latency []int64 `json:"latency,omitempty"`
	// PeakMemoryMB is the largest memory use seen (MiB, rounded up).
	PeakMemoryMB int64 `json:"peak_memory_mb,omitempty"`
	// Sessions counts ended app sessions that used the model; Crashes
	// those that did not end cleanly.
	Sessions int64 `json:"sessions,omitempty"`
	Crashes  int64 `json:"crashes,omitempty"`
	// Labeled counts predictions whose truth became known (e.g. the
	// user's next place); Top1 those whose top-1 answer was right.
	Labeled int64 `json:"labeled,omitempty"`
	Top1    int64 `json:"top1,omitempty"`
	// Drift holds per-feature input histograms (public inputs only).
	Drift []FeatureCounts `json:"drift,omitempty"`
}

// FeatureCounts are one input feature's bucket counts (buckets as the
// bundle's training histogram defines them).
type FeatureCounts struct {
	Feature string  `json:"feature"`
	Counts  []int64 `json:"counts"`
}

// Report is what a device sends with a check-in.
type Report struct {
	Entries []Entry `json:"entries"`
}

// Bounds on a report (the server refuses larger ones).
const (
	MaxEntries       = 32
	MaxDriftFeatures = 16
	// MaxCount bounds every counter of one report.
	MaxCount = 1 << 40
)

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("health: invalid report")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Values returns the entry as declared stream values: stream name → field
// values, for the streams the entry has data for. Drift entries are keyed
// "health.drift/FEATURE".
func (e *Entry) Values() map[string]map[string]any {
	out := map[string]map[string]any{}
	kv := func(stream string, pairs ...any) {
		m := map[string]any{"model": e.Model, "version": e.Version}
		for i := 0; i < len(pairs); i += 2 {
			m[pairs[i].(string)] = pairs[i+1]
		}
		out[stream] = m
	}
	if e.Loads > 0 {
		kv(StreamLoads, "loads", e.Loads, "load_failures", e.LoadFailures)
	}
	if e.Inferences > 0 {
		kv(StreamInference, "inferences", e.Inferences, "inference_errors", e.InferenceErrors)
	}
	if e.Latency != nil {
		kv(StreamLatency)
		for i, c := range e.Latency {
			out[StreamLatency][latencyField(i)] = c
		}
	}
	if e.PeakMemoryMB > 0 {
		kv(StreamMemory, "peak_memory_mb", e.PeakMemoryMB)
	}
	if e.Sessions > 0 {
		kv(StreamSessions, "sessions", e.Sessions, "crashes", e.Crashes)
	}
	if e.Labeled > 0 {
		kv(StreamQuality, "labeled", e.Labeled, "top1", e.Top1)
	}
	for _, f := range e.Drift {
		m := map[string]any{"model": e.Model, "version": e.Version, "feature": f.Feature}
		for i := range MaxDriftBuckets {
			var c int64
			if i < len(f.Counts) {
				c = f.Counts[i]
			}
			m[latencyField(i)] = c
		}
		out[StreamDrift+"/"+f.Feature] = m
	}
	return out
}

// Validate checks r's bounds and consistency, and that every value belongs
// to a stream reg declares (with its declared fields and types).
func (r *Report) Validate(reg *telemetry.Registry) error {
	if len(r.Entries) > MaxEntries {
		return invalid("%d entries (max %d)", len(r.Entries), MaxEntries)
	}
	seen := map[[2]string]bool{}
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.Model == "" || e.Version == "" || len(e.Model) > telemetry.MaxNameLen*4 || len(e.Version) > telemetry.MaxNameLen {
			return invalid("entry %d: model and version must be 1–256 and 1–64 bytes", i)
		}
		k := [2]string{e.Model, e.Version}
		if seen[k] {
			return invalid("two entries for %s@%s", e.Model, e.Version)
		}
		seen[k] = true
		for _, c := range []int64{e.Loads, e.LoadFailures, e.Inferences, e.InferenceErrors, e.PeakMemoryMB, e.Sessions, e.Crashes, e.Labeled, e.Top1} {
			if c < 0 || c > MaxCount {
				return invalid("%s@%s: a counter is outside [0, 2^40]", e.Model, e.Version)
			}
		}
		if e.LoadFailures > e.Loads || e.InferenceErrors > e.Inferences || e.Crashes > e.Sessions || e.Top1 > e.Labeled {
			return invalid("%s@%s: more outcomes than events", e.Model, e.Version)
		}
		if e.Latency != nil && len(e.Latency) != NumLatencyBuckets {
			return invalid("%s@%s: %d latency buckets (want %d)", e.Model, e.Version, len(e.Latency), NumLatencyBuckets)
		}
		for _, c := range e.Latency {
			if c < 0 || c > MaxCount {
				return invalid("%s@%s: a latency count is outside [0, 2^40]", e.Model, e.Version)
			}
		}
		if len(e.Drift) > MaxDriftFeatures {
			return invalid("%s@%s: %d drift features (max %d)", e.Model, e.Version, len(e.Drift), MaxDriftFeatures)
		}
		feats := map[string]bool{}
		for _, f := range e.Drift {
			if feats[f.Feature] {
				return invalid("%s@%s: feature %q twice", e.Model, e.Version, f.Feature)
			}
			feats[f.Feature] = true
			if len(f.Counts) < 2 || len(f.Counts) > MaxDriftBuckets {
				return invalid("%s@%s: feature %q has %d buckets (want 2–%d)", e.Model, e.Version, f.Feature, len(f.Counts), MaxDriftBuckets)
			}
			for _, c := range f.Counts {
				if c < 0 || c > MaxCount {
					return invalid("%s@%s: a drift count is outside [0, 2^40]", e.Model, e.Version)
				}
			}
		}
		vals := e.Values()
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			stream := k
			if len(k) > len(StreamDrift) && k[:len(StreamDrift)+1] == StreamDrift+"/" {
				stream = StreamDrift
			}
			sc, err := reg.Lookup(stream)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			if _, err := sc.Item(vals[k]); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
		}
	}
	return nil
}

// Empty reports whether r holds nothing.
func (r *Report) Empty() bool { return r == nil || len(r.Entries) == 0 }
