package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMemSampler: a phase's peaks include what it held, and a heap
// profile is written at the new peak, named after the phase.
func TestMemSampler(t *testing.T) {
	if _, err := os.Stat("/proc/self/statm"); err != nil {
		t.Skip("no /proc/self/statm: the resident set is not sampled here")
	}
	dir := t.TempDir()
	m := startMemSampler(dir)
	m.begin("hold")
	const size = 256 << 20
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i) // touched: resident
	}
	time.Sleep(5 * memInterval)
	heap, rss := m.peaks()
	runtime.KeepAlive(buf)
	if heap < size || rss < size {
		t.Errorf("peaks heap %d, resident %d while holding %d bytes", heap, rss, size)
	}
	if err := m.close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ents {
		found = found || strings.HasPrefix(e.Name(), "heap-hold-") && strings.HasSuffix(e.Name(), "MiB.pprof")
	}
	if !found {
		t.Errorf("no heap-hold-*.pprof profile in %v", ents)
	}
}
