// Package cputime reads the CPU time this process has used, for the
// benchmarks that report CPU time beside wall time: on a shared machine
// other processes' load stretches wall time far more than CPU time.
package cputime

import "time"

// Used returns the user plus system CPU time of this process so far, or 0
// where it cannot be read.
func Used() time.Duration {
	d, _ := Process()
	return d
}

// Seconds is Used in seconds.
func Seconds() float64 { return Used().Seconds() }
