package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat times (100
// on every mainstream architecture).
const clockTicks = 100

// processCPU returns the CPU time (user + system) process pid has used,
// from /proc (Linux only).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name, which may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("load: /proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("load: /proc/%d/stat: malformed", pid)
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 here.
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("load: /proc/%d/stat: malformed times", pid)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// processRunDelay returns how long process pid's live threads have been
// runnable but waiting for a CPU (the second field of Linux's
// /proc/PID/task/TID/schedstat, in nanoseconds, summed over threads).
// On a shared machine it tells a server starved of its core from one
// with nothing to do: both show low CPU use.
func processRunDelay(pid int) (time.Duration, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, fmt.Errorf("load: %s/%s/schedstat: malformed", dir, t.Name())
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("load: %s/%s/schedstat: malformed", dir, t.Name())
		}
		sum += ns
	}
	return time.Duration(sum), nil
}
