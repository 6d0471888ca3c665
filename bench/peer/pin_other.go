//go:build !linux

package peer

import (
	"errors"
	"runtime"
)

// Pin locks the goroutine to its thread; setting CPU affinity is only
// implemented on Linux.
func Pin(cpu int) (int, error) {
	runtime.LockOSThread()
	return -1, errors.New("peer: CPU pinning needs Linux")
}

// PinN locks the goroutine to its thread; setting CPU affinity is only
// implemented on Linux.
func PinN(n int) ([]int, error) {
	runtime.LockOSThread()
	return nil, errors.New("peer: CPU pinning needs Linux")
}
