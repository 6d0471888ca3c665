package sim

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFleet: 20 real SDK instances enrol, install v1 (verified, self-tested,
// committed), predict on device, and all end on v2 with no failures; the
// report's counts agree with one another.
func TestFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	phases := map[string]bool{}
	rep, err := Run(ctx, Config{Devices: 20, Seed: 7, Predictions: 10, CheckInProb: 0.5, MaxRounds: 40,
		Progress: func(p Progress) { mu.Lock(); phases[p.Phase] = true; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Write(&out)
	t.Log("\n" + out.String())
	if rep.Enrolled != 20 || rep.OnV1 != 20 || rep.OnV2 != 20 {
		t.Fatalf("enrolled %d, on v1 %d, on v2 %d; want 20 each", rep.Enrolled, rep.OnV1, rep.OnV2)
	}
	if rep.InstallFailures != 0 || rep.Installs != 40 {
		t.Fatalf("%d installs, %d failures (%v); want 40 and 0", rep.Installs, rep.InstallFailures, rep.FailureSamples)
	}
	if rep.Predictions != 2*20*10 || rep.PredictionFailures != 0 {
		t.Fatalf("%d predictions, %d failed; want 400 and 0", rep.Predictions, rep.PredictionFailures)
	}
	// Every device downloaded v1 in full and v2 either in full or as the
	// (smaller) delta the server offers from v1; nothing more than a
	// resumption could add.
	v1 := int64(20 * rep.BundleBytes["1.0.0"])
	both := int64(20 * (rep.BundleBytes["1.0.0"] + rep.BundleBytes["1.1.0"]))
	if rep.BytesDownloaded <= v1 || rep.BytesDownloaded > both+both/10 {
		t.Errorf("downloaded %d B, want more than v1's %d and at most about %d", rep.BytesDownloaded, v1, both)
	}
	// Convergence starts at 0, never falls, and ends at 1 in the round
	// the report names.
	c := rep.Convergence
	if c[0].Fraction != 0 || rep.RoundsToConverge < 1 || rep.RoundsToConverge != len(c)-1 || c[len(c)-1].Fraction != 1 {
		t.Fatalf("convergence %+v, rounds %d", c, rep.RoundsToConverge)
	}
	for i := 1; i < len(c); i++ {
		if c[i].OnV2 < c[i-1].OnV2 || c[i].OnV2 > c[i-1].OnV2+c[i].CheckIns {
			t.Fatalf("round %d: %d on v2 after %d with %d check-ins", i, c[i].OnV2, c[i-1].OnV2, c[i].CheckIns)
		}
	}
	total := 0
	for name, n := range rep.Profiles {
		total += n
		l := rep.Latency[name]
		if l == nil || l.N != 2*10*n || l.P50 <= 0 || l.P95 < l.P50 || l.Max < l.P95 {
			t.Errorf("profile %s (%d devices): latency %+v", name, n, l)
		}
	}
	if total != 20 || len(rep.Profiles) < 2 {
		t.Errorf("profiles %v", rep.Profiles)
	}
	for _, ph := range []string{"setup", "enroll", "install-v1", "predict-v1", "publish-v2", "rollout-v2", "predict-v2", "done"} {
		if !phases[ph] {
			t.Errorf("no progress for phase %s", ph)
		}
	}
	if !strings.Contains(out.String(), "whole fleet on v2") {
		t.Errorf("report does not state convergence:\n%s", out.String())
	}
}

// TestConfigRefused: configurations Run cannot honour are errors before
// anything starts.
func TestConfigRefused(t *testing.T) {
	for _, cfg := range []Config{
		{Devices: -1},
		{CheckInProb: 1.5},
		{Profiles: []Share{{Profile: nil, Weight: 1}}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}

// TestQuantile: nearest-rank percentiles.
func TestQuantile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i))
	}
	s := latencyStats(lat, 2)
	if s.P50 != 50 || s.P95 != 95 || s.Max != 100 || s.N != 100 || s.SpeedFactor != 2 {
		t.Fatalf("%+v", s)
	}
	if one := latencyStats([]time.Duration{7}, 1); one.P50 != 7 || one.P95 != 7 {
		t.Fatalf("%+v", one)
	}
}
