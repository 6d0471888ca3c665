package main

import (
	"strings"
	"testing"
)

// TestDemoFleet: `demo runtime --fleet 6` runs the runtime tour, then the fleet
// simulator, and prints its report with the whole fleet on v2.
func TestDemoFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every shipped model and a fleet")
	}
	out, err := sextant(t, "demo", "runtime", "--iterations", "20", "--fleet", "6", "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"All 2 models converted", "Fleet: 6 devices (seed 3)", "0 failures", "whole fleet on v2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("demo --fleet output lacks %q:\n%s", want, out)
		}
	}
}
