//go:build !unix

package updater

import "os"

// mapFile reads a file into memory where mmap is unavailable.
func mapFile(path string) ([]byte, func() error, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}
