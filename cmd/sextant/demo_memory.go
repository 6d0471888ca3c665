package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memSampler samples the process's Go heap and resident set while the demo
// runs, so each phase can report its own peaks; with a profile directory
// it also writes a heap profile whenever the heap in use reaches a new
// high 10 % above the last one written (what holds memory at the peak).
type memSampler struct {
	dir  string // heap profiles; "" writes none
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	phase     string
	heap, rss uint64 // this phase's peaks
	profiled  uint64 // the heap in use at the last profile written
	profErr   error
}

// memInterval is how often the sampler looks.
const memInterval = 100 * time.Millisecond

// startMemSampler starts sampling; profiles go to dir when it is not "".
func startMemSampler(dir string) *memSampler {
	m := &memSampler{dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	go m.loop()
	return m
}

func (m *memSampler) loop() {
	defer close(m.done)
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(memInterval)
	defer t.Stop()
	for {
		metrics.Read(s)
		heap := s[0].Value.Uint64()
		rss := residentBytes()
		m.mu.Lock()
		m.heap, m.rss = max(m.heap, heap), max(m.rss, rss)
		write := m.dir != "" && m.profErr == nil && heap > m.profiled+m.profiled/10 && heap > 64<<20
		if write {
			m.profiled = heap
		}
		phase := m.phase
		m.mu.Unlock()
		if write {
			if err := m.profile(phase, heap); err != nil {
				m.mu.Lock()
				m.profErr = err
				m.mu.Unlock()
			}
		}
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
	}
}

// profile writes the heap profile heap-<phase>-<MiB>.pprof.
func (m *memSampler) profile(phase string, heap uint64) error {
	name := fmt.Sprintf("heap-%s-%05dMiB.pprof", strings.ReplaceAll(phase, " ", "-"), heap>>20)
	f, err := os.Create(filepath.Join(m.dir, name))
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// begin starts the named phase's peaks afresh.
func (m *memSampler) begin(phase string) {
	m.mu.Lock()
	m.phase, m.heap, m.rss = phase, 0, residentBytes()
	m.mu.Unlock()
}

// peaks returns the phase's peak Go heap in use and resident set so far.
func (m *memSampler) peaks() (heap, rss uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.heap, m.rss
}

// close stops sampling and reports a failure to write a profile.
func (m *memSampler) close() error {
	close(m.stop)
	<-m.done
	if m.profErr != nil {
		return fmt.Errorf("heap profile: %w", m.profErr)
	}
	return nil
}

// residentBytes is the process's resident set (Linux /proc/self/statm; 0
// elsewhere).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
