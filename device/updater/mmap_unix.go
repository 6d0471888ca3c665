//go:build unix

package updater

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a file read-only; the delta decoder reads the base bundle
// through it without copying it to the heap.
func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 || int64(int(st.Size())) != st.Size() {
		return nil, nil, fmt.Errorf("updater: cannot map %s of %d bytes", path, st.Size())
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("updater: map %s: %w", path, err)
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
