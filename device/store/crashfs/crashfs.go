// Package crashfs is a store.FS for tests that simulates a power loss: it
// writes through to a real directory but remembers what is durable, and
// Crash rewrites the directory to that durable image, dropping every write
// not yet synced.
//
// The model follows POSIX durability: a file's data is durable as of its
// last File.Sync; a name created, renamed or removed is durable once
// SyncDir(its directory) runs. Data and names are tracked separately, so a
// file renamed and dir-synced but never synced itself comes back empty, as
// on ext4 without auto_da_alloc. Directories created by MkdirAll are durable
// at once (a simplification: the store syncs parents after creating them
// anyway).
//
// FailAfter makes every mutating operation after the n-th fail with
// ErrCrashed, so a test can stop a writer at each point in turn, then Crash
// and check what survives.
package crashfs

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/sextant-ml/sextant/device/store"
)

// ErrCrashed is returned by every mutating operation after the failure
// point.
var ErrCrashed = errors.New("crashfs: crashed")

type inode struct {
	durable []byte // content as of the last Sync
}

// FS is the simulating file system. All names must lie under its root.
type FS struct {
	root string

	mu     sync.Mutex // guards everything below
	inodes map[int]*inode
	next   int
	cur    map[string]int // current name → inode
	dur    map[string]int // durable name → inode
	ops    int
	limit  int // fail mutating ops after this many; <0: never
}

// New wraps the directory root, whose present content counts as durable.
func New(root string) (*FS, error) {
	c := &FS{root: root, inodes: map[int]*inode{}, cur: map[string]int{}, dur: map[string]int{}, limit: -1}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		c.next++
		c.inodes[c.next] = &inode{durable: b}
		c.cur[p], c.dur[p] = c.next, c.next
		return nil
	})
	return c, err
}

// FailAfter makes mutating operations after the next n fail; n < 0 turns
// failures off. It resets the operation count.
func (c *FS) FailAfter(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.limit = 0, n
}

// Ops is the number of mutating operations since FailAfter (or New).
func (c *FS) Ops() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops
}

// opLocked counts one mutating operation and reports whether it may run.
func (c *FS) opLocked() error {
	c.ops++
	if c.limit >= 0 && c.ops > c.limit {
		return ErrCrashed
	}
	return nil
}

// Crash rewrites the directory to its durable image and turns failures
// off. Files open before the crash must not be used afterwards.
func (c *FS) Crash() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Remove(p)
	})
	if err != nil {
		return err
	}
	for p, id := range c.dur {
		if err := os.WriteFile(p, c.inodes[id].durable, 0o644); err != nil {
			return err
		}
	}
	c.cur = maps.Clone(c.dur)
	c.limit = -1
	return nil
}

const writeFlags = os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_TRUNC | os.O_APPEND

// OpenFile opens name; files opened for writing are opened read-write
// underneath so Sync can snapshot them.
func (c *FS) OpenFile(name string, flag int, perm fs.FileMode) (store.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if flag&writeFlags != 0 {
		if err := c.opLocked(); err != nil {
			return nil, err
		}
		flag = flag&^os.O_WRONLY | os.O_RDWR
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	id, ok := c.cur[name]
	if !ok {
		c.next++
		id = c.next
		c.inodes[id] = &inode{}
		c.cur[name] = id
	}
	return &file{File: f, c: c, id: id}, nil
}

// Rename renames within the current (not yet durable) namespace.
func (c *FS) Rename(o, n string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.opLocked(); err != nil {
		return err
	}
	if err := os.Rename(o, n); err != nil {
		return err
	}
	if id, ok := c.cur[o]; ok {
		c.cur[n] = id
		delete(c.cur, o)
	}
	return nil
}

// Remove removes a name from the current namespace.
func (c *FS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.opLocked(); err != nil {
		return err
	}
	if err := os.Remove(name); err != nil {
		return err
	}
	delete(c.cur, name)
	return nil
}

// MkdirAll creates directories, durable at once.
func (c *FS) MkdirAll(name string, perm fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.opLocked(); err != nil {
		return err
	}
	return os.MkdirAll(name, perm)
}

// ReadDir lists a directory.
func (c *FS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Stat describes a file.
func (c *FS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir makes the directory's current entries durable.
func (c *FS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.opLocked(); err != nil {
		return err
	}
	for p := range c.dur {
		if filepath.Dir(p) == dir {
			if _, ok := c.cur[p]; !ok {
				delete(c.dur, p)
			}
		}
	}
	for p, id := range c.cur {
		if filepath.Dir(p) == dir {
			c.dur[p] = id
		}
	}
	return nil
}

// file is an open file whose writes count as operations.
type file struct {
	*os.File
	c  *FS
	id int
}

func (f *file) op() error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.opLocked()
}

func (f *file) Write(b []byte) (int, error) {
	if err := f.op(); err != nil {
		return 0, err
	}
	return f.File.Write(b)
}

func (f *file) WriteAt(b []byte, off int64) (int, error) {
	if err := f.op(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(b, off)
}

func (f *file) Truncate(n int64) error {
	if err := f.op(); err != nil {
		return err
	}
	return f.File.Truncate(n)
}

// Sync snapshots the file's content as durable.
func (f *file) Sync() error {
	if err := f.op(); err != nil {
		return err
	}
	st, err := f.File.Stat()
	if err != nil {
		return err
	}
	b := make([]byte, st.Size())
	if _, err := f.File.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return err
	}
	f.c.mu.Lock()
	f.c.inodes[f.id].durable = b
	f.c.mu.Unlock()
	return nil
}
