package health

import (
	"encoding/json"
	"testing"
)

// FuzzReport: any JSON a device may send either fails Validate or yields
// a report within its bounds whose streams are all declared; nothing
// panics.
func FuzzReport(f *testing.F) {
	f.Add([]byte(`{"entries":[{"model":"eta","version":"1.0.0","inferences":10,"inference_errors":1,"latency":[1,2,3,4,5,6,7,8,9,10,11,12]}]}`))
	f.Add([]byte(`{"entries":[{"model":"eta","version":"1.0.0","drift":[{"feature":"speed","counts":[1,2,3]}]}]}`))
	f.Add([]byte(`{"entries":[{"model":"","version":"1","loads":-1}]}`))
	reg := Registry()
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Report
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if r.Validate(reg) != nil {
			return
		}
		if len(r.Entries) > MaxEntries {
			t.Fatalf("%d entries accepted", len(r.Entries))
		}
		for _, e := range r.Entries {
			if e.InferenceErrors > e.Inferences || len(e.Drift) > MaxDriftFeatures {
				t.Fatalf("inconsistent entry accepted: %+v", e)
			}
			// Merging into a recorder keeps it valid.
			rec := NewRecorder()
			rec.Return(&Report{Entries: []Entry{e}})
			if err := rec.Take().Validate(reg); err != nil {
				t.Fatalf("a valid entry became invalid in a recorder: %v", err)
			}
		}
	})
}
