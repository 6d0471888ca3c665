//go:build !unix

package eval

import "time"

// processCPU is unavailable here; callers fall back to wall time.
func processCPU() (time.Duration, bool) { return 0, false }
