package updater

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/device/store"
)

// TestHealthRidesCheckIn: the recorder's report goes with the next
// check-in; a check-in that fails keeps it for the next one, and a
// delivered report is never sent again.
func TestHealthRidesCheckIn(t *testing.T) {
	rec := health.NewRecorder()
	e := newEnv(t, store.OS, 0, func(c *Config) { c.Health = rec })
	rec.Inference("eta", "1.0.0", time.Millisecond, true)
	e.ver.err = &NetworkError{URL: "https://sextant.example/v1/devices/d/checkin", Err: errors.New("offline")}
	if _, err := e.u.CheckIn(context.Background()); err == nil {
		t.Fatal("check-in against a failing verifier succeeded")
	}
	rec.Inference("eta", "1.0.0", time.Millisecond, false)
	e.ver.set()
	mustCheckIn(t, e.u)
	mustCheckIn(t, e.u)
	seen := e.ver.seen
	if len(seen) != 3 || seen[0].Health == nil || seen[0].Health.Entries[0].Inferences != 1 {
		t.Fatalf("first check-in carried %+v", seen[0].Health)
	}
	if h := seen[1].Health; h == nil || h.Entries[0].Inferences != 2 || h.Entries[0].InferenceErrors != 1 {
		t.Fatalf("second check-in carried %+v", h)
	}
	if seen[2].Health != nil {
		t.Fatalf("a delivered report was sent again: %+v", seen[2].Health)
	}
}
