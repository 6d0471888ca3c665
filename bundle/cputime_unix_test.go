//go:build unix

package bundle

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used, so
// benchmarks can report cost independent of how busy the machine is.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
