package health

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sextant-ml/sextant/tensor"
)

// Recorder accumulates health counters between check-ins. It is safe for
// concurrent use; its size is bounded by MaxEntries (model, version) pairs,
// each a few hundred bytes, and counters saturate at MaxCount.
type Recorder struct {
	mu      sync.Mutex
	entries map[[2]string]*Entry
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{entries: map[[2]string]*Entry{}} }

func sat(a, b int64) int64 { return min(a+b, MaxCount) }

// entry returns the counters of model@version under r.mu, or nil when the
// recorder already tracks MaxEntries other pairs.
func (r *Recorder) entry(model, version string) *Entry {
	k := [2]string{model, version}
	e := r.entries[k]
	if e == nil {
		if model == "" || version == "" || len(r.entries) >= MaxEntries {
			return nil
		}
		e = &Entry{Model: model, Version: version}
		r.entries[k] = e
	}
	return e
}

func (r *Recorder) with(model, version string, fn func(e *Entry)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entry(model, version); e != nil {
		fn(e)
	}
}

// Load records a load attempt of model@version.
func (r *Recorder) Load(model, version string, failed bool) {
	r.with(model, version, func(e *Entry) {
		e.Loads = sat(e.Loads, 1)
		if failed {
			e.LoadFailures = sat(e.LoadFailures, 1)
		}
	})
}

// LatencyBucket is the LatencyBucketsMs bucket of d.
func LatencyBucket(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	i, _ := slices.BinarySearch(LatencyBucketsMs, ms)
	return i
}

// Inference records a served request of model@version: its latency (when
// it succeeded) and whether it failed.
func (r *Recorder) Inference(model, version string, latency time.Duration, failed bool) {
	r.with(model, version, func(e *Entry) {
		e.Inferences = sat(e.Inferences, 1)
		if failed {
			e.InferenceErrors = sat(e.InferenceErrors, 1)
			return
		}
		if e.Latency == nil {
			e.Latency = make([]int64, NumLatencyBuckets)
		}
		b := LatencyBucket(latency)
		e.Latency[b] = sat(e.Latency[b], 1)
	})
}

// Memory records a memory use of model@version in bytes; the report keeps
// the peak.
func (r *Recorder) Memory(model, version string, bytes int64) {
	mb := (bytes + 1<<20 - 1) >> 20
	r.with(model, version, func(e *Entry) { e.PeakMemoryMB = min(max(e.PeakMemoryMB, mb), MaxCount) })
}

// Session records an app session that used model@version and whether it
// crashed.
func (r *Recorder) Session(model, version string, crashed bool) {
	r.with(model, version, func(e *Entry) {
		e.Sessions = sat(e.Sessions, 1)
		if crashed {
			e.Crashes = sat(e.Crashes, 1)
		}
	})
}

// Outcome records that the truth of a prediction of model@version became
// known and whether the top-1 answer was right.
func (r *Recorder) Outcome(model, version string, top1 bool) {
	r.with(model, version, func(e *Entry) {
		e.Labeled = sat(e.Labeled, 1)
		if top1 {
			e.Top1 = sat(e.Top1, 1)
		}
	})
}

// ObserveInputs adds a request's inputs to the drift histograms of
// model@version: for each feature of h with an input of that name, every
// element of the tensor counts in its bucket. h must hold public inputs
// only (PublicHistograms).
func (r *Recorder) ObserveInputs(model, version string, h Histograms, inputs map[string]*tensor.Tensor) {
	if len(h) == 0 {
		return
	}
	r.with(model, version, func(e *Entry) {
		for name, hist := range h {
			t := inputs[name]
			if t == nil {
				continue
			}
			i := slices.IndexFunc(e.Drift, func(f FeatureCounts) bool { return f.Feature == name })
			if i < 0 {
				if len(e.Drift) >= MaxDriftFeatures {
					continue
				}
				e.Drift = append(e.Drift, FeatureCounts{Feature: name, Counts: make([]int64, len(hist.Edges)+1)})
				i = len(e.Drift) - 1
			}
			c := e.Drift[i].Counts
			for j := range t.Len() {
				x := t.Float64At(j)
				if math.IsNaN(x) {
					continue
				}
				b := hist.Bucket(x)
				c[b] = sat(c[b], 1)
			}
		}
	})
}

// Take returns everything recorded since the last Take and starts afresh;
// nil when nothing was recorded. Entries are sorted by model and version.
func (r *Recorder) Take() *Report {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) == 0 {
		return nil
	}
	rep := &Report{Entries: make([]Entry, 0, len(r.entries))}
	for _, e := range r.entries {
		slices.SortFunc(e.Drift, func(a, b FeatureCounts) int { return strings.Compare(a.Feature, b.Feature) })
		rep.Entries = append(rep.Entries, *e)
	}
	slices.SortFunc(rep.Entries, func(a, b Entry) int {
		if c := strings.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	r.entries = map[[2]string]*Entry{}
	return rep
}

// Return merges a report that was not delivered back into the recorder, so
// the next check-in sends it (counts add, the memory peak is the larger).
func (r *Recorder) Return(rep *Report) {
	if r == nil || rep == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range rep.Entries {
		in := &rep.Entries[i]
		e := r.entry(in.Model, in.Version)
		if e == nil {
			continue
		}
		e.Loads, e.LoadFailures = sat(e.Loads, in.Loads), sat(e.LoadFailures, in.LoadFailures)
		e.Inferences, e.InferenceErrors = sat(e.Inferences, in.Inferences), sat(e.InferenceErrors, in.InferenceErrors)
		e.Sessions, e.Crashes = sat(e.Sessions, in.Sessions), sat(e.Crashes, in.Crashes)
		e.Labeled, e.Top1 = sat(e.Labeled, in.Labeled), sat(e.Top1, in.Top1)
		e.PeakMemoryMB = max(e.PeakMemoryMB, in.PeakMemoryMB)
		if in.Latency != nil {
			if e.Latency == nil {
				e.Latency = make([]int64, NumLatencyBuckets)
			}
			for b, c := range in.Latency {
				if b < len(e.Latency) {
					e.Latency[b] = sat(e.Latency[b], c)
				}
			}
		}
		for _, f := range in.Drift {
			j := slices.IndexFunc(e.Drift, func(g FeatureCounts) bool { return g.Feature == f.Feature })
			switch {
			case j < 0 && len(e.Drift) < MaxDriftFeatures:
				e.Drift = append(e.Drift, FeatureCounts{Feature: f.Feature, Counts: slices.Clone(f.Counts)})
			case j >= 0 && len(e.Drift[j].Counts) == len(f.Counts):
				for b, c := range f.Counts {
					e.Drift[j].Counts[b] = sat(e.Drift[j].Counts[b], c)
				}
			}
		}
	}
}
