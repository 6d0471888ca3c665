//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bundle

import (
	"io"
	"os"

	"github.com/sextant-ml/sextant/tensor"
)

// mapFile reads the file into aligned heap memory on platforms where this
// package does not use mmap; the bundle then costs its size in memory.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	b := tensor.AlignedBytes(size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}
