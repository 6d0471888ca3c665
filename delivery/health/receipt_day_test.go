package health

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	dhealth "github.com/sextant-ml/sextant/device/health"
	"github.com/sextant-ml/sextant/privacy/telemetry"
)

// dayEvents is how many of version's events the continual counters hold
// for day (0 when the aggregator is on another day).
func dayEvents(a *Aggregator, day, version string) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.today != day {
		return 0
	}
	dc := a.days["eta"]
	if dc == nil || dc.sums[version] == nil {
		return 0
	}
	var n float64
	for _, s := range dc.sums[version] {
		n += s[0]
	}
	return n
}

// TestIngestAtCountsReceiptDay: queued reports count on the day they were
// received, not the day they are folded in: a leader lagging past
// midnight counts the evening's reports on their day; a new leader
// replaying the stream counts only today's reports today; a report whose
// day has closed is not counted on a later one (it stays in the totals).
func TestIngestAtCountsReceiptDay(t *testing.T) {
	ctx := context.Background()
	reg, err := telemetry.NewRegistry(dhealth.SchemasWith(1, 2)...)
	if err != nil {
		t.Fatal(err)
	}
	newAt := func(now time.Time) *Aggregator {
		l, err := telemetry.OpenLedger(filepath.Join(t.TempDir(), "ledger.json"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(Config{Registry: reg, Ledger: l, Clock: clock.NewManual(now)})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	rep := &dhealth.Report{Entries: []dhealth.Entry{{Model: "eta", Version: "1.0.0", Labeled: 10, Top1: 7, Inferences: 10}}}
	evening := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	morning := evening.Add(2 * time.Minute)
	day1, day2 := telemetry.Day(evening), telemetry.Day(morning)

	// The leader folds at 00:05 what was received at 23:59.
	a := newAt(morning.Add(3 * time.Minute))
	if err := a.IngestAt(ctx, "p1", rep, evening); err != nil {
		t.Fatal(err)
	}
	if n := dayEvents(a, day1, "1.0.0"); n == 0 {
		t.Fatalf("a report received on %s was not counted on its day", day1)
	}
	// Then what was received after midnight: a new day.
	if err := a.IngestAt(ctx, "p2", rep, morning); err != nil {
		t.Fatal(err)
	}
	n2 := dayEvents(a, day2, "1.0.0")
	if n2 == 0 {
		t.Fatalf("a report received on %s was not counted on its day", day2)
	}
	// A redelivered report of the closed day does not count on day 2.
	if err := a.IngestAt(ctx, "p3", rep, evening); err != nil {
		t.Fatal(err)
	}
	if n := dayEvents(a, day2, "1.0.0"); n != n2 {
		t.Fatalf("a report of the closed day %s counted on %s: %g events, want %g", day1, day2, n, n2)
	}
	if got := a.Devices("eta", "1.0.0"); got != 3 {
		t.Fatalf("%d devices in the totals, want 3 (the late report is kept there)", got)
	}

	// A new leader replaying the stream on day 2 counts only day 2's
	// reports on day 2, whatever its clock says while it folds.
	b := newAt(morning.Add(time.Hour))
	for _, r := range []struct {
		dev string
		at  time.Time
	}{{"p1", evening}, {"p3", evening}, {"p2", morning}} {
		if err := b.IngestAt(ctx, r.dev, rep, r.at); err != nil {
			t.Fatal(err)
		}
	}
	if n := dayEvents(b, day2, "1.0.0"); n != n2 {
		t.Fatalf("replay: %g events on %s, want %g (day 1's reports are not today's)", n, day2, n2)
	}
}
