//go:build unix

package cputime

import "testing"

// Work on the CPU shows up in the process's CPU time.
func TestUsedGrows(t *testing.T) {
	before, ok := Process()
	if !ok {
		t.Fatal("getrusage failed on a unix system")
	}
	x := 1.0
	for i := 0; Used()-before < 5e6 && i < 1e9; i++ { // 5 ms of CPU
		x = x*1.0000001 + 1e-9
	}
	if Used()-before < 5e6 {
		t.Fatalf("CPU time grew by %v after a busy loop (x=%v)", Used()-before, x)
	}
}
