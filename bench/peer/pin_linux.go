package peer

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Pin locks the calling goroutine to its OS thread and that thread to one
// CPU: cpu, or, when cpu < 0, the highest-numbered CPU the process may use.
// ORT runs on the calling thread (one intra-op thread means no pool), so
// both runtimes execute on that core. It returns the CPU chosen. On error
// the goroutine is left unlocked.
func Pin(cpu int) (c int, err error) {
	runtime.LockOSThread()
	defer func() {
		if err != nil {
			runtime.UnlockOSThread()
		}
	}()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return -1, fmt.Errorf("peer: sched_getaffinity: %w", err)
	}
	if cpu < 0 {
		for c := 0; c < len(set)*64; c++ {
			if set.IsSet(c) {
				cpu = c
			}
		}
	}
	if cpu < 0 || !set.IsSet(cpu) {
		return -1, fmt.Errorf("peer: CPU %d is not in the process's affinity mask (%d CPUs)", cpu, set.Count())
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return -1, fmt.Errorf("peer: sched_setaffinity to CPU %d: %w", cpu, err)
	}
	return cpu, nil
}

// PinN locks the calling goroutine to its OS thread and that thread to the
// n highest-numbered CPUs the process may use, for runs with n threads:
// threads the runtimes start from it later (ORT's intra-op pool, new Go
// threads) inherit the set. It returns the CPUs chosen. On error the
// goroutine is left unlocked.
func PinN(n int) (cpus []int, err error) {
	runtime.LockOSThread()
	defer func() {
		if err != nil {
			runtime.UnlockOSThread()
		}
	}()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("peer: sched_getaffinity: %w", err)
	}
	var pick unix.CPUSet
	for c := len(set)*64 - 1; c >= 0 && len(cpus) < n; c-- {
		if set.IsSet(c) {
			pick.Set(c)
			cpus = append([]int{c}, cpus...)
		}
	}
	if n < 1 || len(cpus) < n {
		return nil, fmt.Errorf("peer: want %d CPUs, the process may use %d", n, set.Count())
	}
	if err := unix.SchedSetaffinity(0, &pick); err != nil {
		return nil, fmt.Errorf("peer: sched_setaffinity to CPUs %v: %w", cpus, err)
	}
	return cpus, nil
}
