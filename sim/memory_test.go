package sim

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/internal/heapstat"
)

// TestFleetMemoryPerDevice: an enrolled phone that has installed v1 and
// sits idle between check-ins keeps little on the Go heap (its store,
// updater and health recorder; its bundles are on disk), so that a fleet
// of 10⁵ fits in memory. SEXTANT_FLEET_MEMORY_DEVICES sets the fleet size
// (default 200).
func TestFleetMemoryPerDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("enrols and installs a fleet")
	}
	n := 200
	if s := os.Getenv("SEXTANT_FLEET_MEMORY_DEVICES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("SEXTANT_FLEET_MEMORY_DEVICES=%q: want a positive count", s)
		}
		n = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(10*time.Minute, time.Duration(n)*100*time.Millisecond))
	defer cancel()
	v1, err := buildBundle(ctx, "1.0.0", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	// A one-device fleet first: the server, its store and the process's
	// one-off state are not per-device costs.
	base := func(devices int) (*Fleet, uint64) {
		t0 := time.Now()
		f, err := StartFleet(ctx, Config{Devices: devices, Seed: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() }) // also when a check below fails
		if err := f.Publish(ctx, ModelName, v1.version, v1.data, true); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := f.Each(ctx, "", nil, func(d *Device) error { return d.CheckIn(ctx, f) }); err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		// A day's check-in with nothing new (up to date).
		if err := f.Each(ctx, "", nil, func(d *Device) error { return d.CheckIn(ctx, f) }); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d devices: enrolled in %s, installed v1 in %s, checked in up to date in %s", devices, t1.Sub(t0).Round(time.Millisecond),
			t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond))
		for _, d := range f.Devices() {
			if d.Version(ModelName) != v1.version {
				t.Fatalf("device %d runs %q after install: %v", d.Index(), d.Version(ModelName), d.Err())
			}
		}
		return f, heapstat.Live()
	}
	f1, one := base(1)
	f1.Close()
	_, all := base(n)
	per := (float64(all) - float64(one)) / float64(n-1)
	t.Logf("%d idle devices: heap %.1f MiB, one-device fleet %.1f MiB: %.1f KiB per device", n, float64(all)/(1<<20),
		float64(one)/(1<<20), per/1024)
	if per > 30<<10 {
		t.Errorf("an idle device keeps %.1f KiB on the heap, want under 30 KiB", per/1024)
	}
}
