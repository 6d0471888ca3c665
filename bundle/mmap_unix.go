//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package bundle

import (
	"os"
	"syscall"
)

// mapFile maps the first size bytes of f read-only and shared: the pages come
// from the page cache on first touch and are never copied into the heap. The
// mapping outlives f's descriptor.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b[:size:size], func() error { return syscall.Munmap(b) }, nil
}
