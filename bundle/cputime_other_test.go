//go:build !unix

package bundle

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
