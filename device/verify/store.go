package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Store keeps the metadata the device trusts between updates, so that
// version floors survive restarts.
type Store interface {
	// Load returns the named document, or (nil, nil) if there is none.
	Load(name string) ([]byte, error)
	// Save replaces the named document durably.
	Save(name string, data []byte) error
	// Delete removes the named document; deleting a missing one is no error.
	Delete(name string) error
}

// MemStore is a Store in memory, for tests and simulated devices. The zero
// value is ready to use; it is safe for concurrent use.
type MemStore struct {
	mu   sync.Mutex // guards docs
	docs map[string][]byte
}

// Load implements Store.
func (m *MemStore) Load(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.docs[name], nil
}

// Save implements Store.
func (m *MemStore) Save(name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.docs == nil {
		m.docs = map[string][]byte{}
	}
	m.docs[name] = append([]byte(nil), data...)
	return nil
}

// Delete implements Store.
func (m *MemStore) Delete(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.docs, name)
	return nil
}

// DirStore is a Store in a directory: one file per document, replaced by a
// synced temporary file and a rename, so a crash leaves the old or the new
// document, never a torn one.
type DirStore struct {
	Dir string
}

func (d DirStore) path(name string) (string, error) {
	if name == "" || strings.Contains(name, "..") || strings.ContainsAny(name, `\`) {
		return "", fmt.Errorf("verify: bad store name %q", name)
	}
	return filepath.Join(d.Dir, filepath.FromSlash(name)), nil
}

// Load implements Store.
func (d DirStore) Load(name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify: load %s: %w", name, err)
	}
	return data, nil
}

// Save implements Store.
func (d DirStore) Save(name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("verify: save %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("verify: save %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("verify: save %s: %w", name, err)
	}
	if dir, err := os.Open(filepath.Dir(p)); err == nil {
		dir.Sync() // make the rename durable; best effort where unsupported
		dir.Close()
	}
	return nil
}

// Delete implements Store.
func (d DirStore) Delete(name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("verify: delete %s: %w", name, err)
	}
	return nil
}
