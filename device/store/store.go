// Package store is the on-device model store: the verified bundles a device
// holds, which version of each model is current, which is the last known
// good, and a storage budget with eviction.
//
// # Layout
//
//	ROOT/models/NAME/state.json            current, last known good, versions (atomic replace)
//	ROOT/models/NAME/versions/VERSION.sxm  installed bundles, each verified before it got here
//	ROOT/downloads/                        partial downloads (owned by the updater)
//
// Every change is made crash-safe by ordering: a bundle is synced before it
// is renamed into versions/, its directory is synced before state.json names
// it, and state.json is replaced atomically (write, sync, rename, sync the
// directory). A crash at any point leaves the previous state, possibly with
// an orphaned bundle file that the next Install of the same version adopts
// or Reserve removes.
//
// The current version and the last known good are never evicted.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ErrNoSpace is returned when the storage budget cannot fit a new bundle
// even after evicting every version that may be evicted.
var ErrNoSpace = errors.New("store: not enough space within the storage budget")

// ErrNotInstalled is returned when a model has no usable installed version.
var ErrNotInstalled = errors.New("store: model not installed")

// Version describes one installed bundle.
type Version struct {
	Version string `json:"version"`
	Size    int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the whole file as verified at install.
	SHA256 string `json:"sha256"`
	// Seq orders installs across the store (eviction removes low Seq first).
	Seq uint64 `json:"seq"`
}

// State is one model's record.
type State struct {
	// Current is the version in use, "" before the first commit.
	Current string `json:"current,omitempty"`
	// LastKnownGood is the version that was current before Current; it
	// stays on the device so the host can roll back to it.
	LastKnownGood string `json:"last_known_good,omitempty"`
	// Versions lists the installed bundles.
	Versions []Version `json:"versions"`
	// Rejected lists SHA-256s of bundles that failed their self-test, so
	// they are not fetched again.
	Rejected []string `json:"rejected,omitempty"`
}

// Find returns the installed version v.
func (s *State) Find(v string) (Version, bool) {
	i := slices.IndexFunc(s.Versions, func(x Version) bool { return x.Version == v })
	if i < 0 {
		return Version{}, false
	}
	return s.Versions[i], true
}

// Store is a model store rooted at a directory. It is safe for concurrent
// use; the mutex serializes every change to state files.
type Store struct {
	fs     FS
	root   string
	budget int64 // bytes; 0 means unlimited

	mu sync.Mutex // guards state files and seq
}

// Open opens (creating if needed) the store at root. budget bounds the
// bytes of bundles and partial downloads it holds; 0 means no bound.
func Open(fsys FS, root string, budget int64) (*Store, error) {
	if fsys == nil {
		fsys = OS
	}
	for _, d := range []string{filepath.Join(root, "models"), filepath.Join(root, "downloads")} {
		if err := fsys.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return &Store{fs: fsys, root: root, budget: budget}, nil
}

// FS returns the file system the store writes through.
func (s *Store) FS() FS { return s.fs }

// Budget returns the storage budget in bytes (0: none).
func (s *Store) Budget() int64 { return s.budget }

// DownloadDir is the directory for partial downloads.
func (s *Store) DownloadDir() string { return filepath.Join(s.root, "downloads") }

// Path is where version v of model is stored.
func (s *Store) Path(model, v string) string {
	return filepath.Join(s.root, "models", model, "versions", v+".sxm")
}

func (s *Store) statePath(model string) string {
	return filepath.Join(s.root, "models", model, "state.json")
}

// CheckName rejects names that are not safe as one path component.
func CheckName(what, n string) error {
	if n == "" || n[0] == '.' || len(n) > 128 || strings.ContainsFunc(n, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '+')
	}) {
		return fmt.Errorf("store: %s %q is not a safe name", what, n)
	}
	return nil
}

// Models lists the models with a state record.
func (s *Store) Models() ([]string, error) {
	ents, err := s.fs.ReadDir(filepath.Join(s.root, "models"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := s.fs.Stat(s.statePath(e.Name())); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// State reads model's record; a model never installed has a zero State.
func (s *Store) State(model string) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked(model)
}

func (s *Store) stateLocked(model string) (State, error) {
	var st State
	f, err := s.fs.OpenFile(s.statePath(model), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	if err := json.NewDecoder(f).Decode(&st); err != nil {
		return st, fmt.Errorf("store: %s: %w", s.statePath(model), err)
	}
	return st, nil
}

func (s *Store) writeStateLocked(model string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(s.fs, s.statePath(model), b); err != nil {
		return fmt.Errorf("store: write state of %s: %w", model, err)
	}
	return nil
}

// nextSeqLocked returns one more than the highest Seq in the store.
func (s *Store) nextSeqLocked() (uint64, error) {
	models, err := s.Models()
	if err != nil {
		return 0, err
	}
	var hi uint64
	for _, m := range models {
		st, err := s.stateLocked(m)
		if err != nil {
			return 0, err
		}
		for _, v := range st.Versions {
			hi = max(hi, v.Seq)
		}
	}
	return hi + 1, nil
}

// Install moves the verified file at src (which must already be synced)
// into the store as version v of model and records it, without making it
// current. When src is "" the bundle is already at Path(model, v.Version)
// (an orphan left by a crash, re-verified by the caller).
func (s *Store) Install(model string, v Version, src string) error {
	if err := CheckName("model", model); err != nil {
		return err
	}
	if err := CheckName("version", v.Version); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dst := s.Path(model, v.Version)
	dir := filepath.Dir(dst)
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// The models/NAME directory entry itself must survive a crash.
	if err := s.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if src != "" {
		if err := s.fs.Rename(src, dst); err != nil {
			return fmt.Errorf("store: install %s %s: %w", model, v.Version, err)
		}
		if err := s.fs.SyncDir(dir); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	st, err := s.stateLocked(model)
	if err != nil {
		return err
	}
	if v.Seq, err = s.nextSeqLocked(); err != nil {
		return err
	}
	st.Versions = slices.DeleteFunc(st.Versions, func(x Version) bool { return x.Version == v.Version })
	st.Versions = append(st.Versions, v)
	return s.writeStateLocked(model, st)
}

// Commit makes installed version v current; the previous current becomes
// the last known good.
func (s *Store) Commit(model, v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stateLocked(model)
	if err != nil {
		return err
	}
	if _, ok := st.Find(v); !ok {
		return fmt.Errorf("store: commit %s %s: %w", model, v, ErrNotInstalled)
	}
	if st.Current == v {
		return nil
	}
	if st.Current != "" {
		st.LastKnownGood = st.Current
	}
	st.Current = v
	return s.writeStateLocked(model, st)
}

// Rollback makes the last known good current again and forgets the version
// that was current (its file is removed and its hash rejected).
func (s *Store) Rollback(model string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stateLocked(model)
	if err != nil {
		return err
	}
	if st.LastKnownGood == "" {
		return fmt.Errorf("store: roll back %s: no last known good: %w", model, ErrNotInstalled)
	}
	bad := st.Current
	st.Current, st.LastKnownGood = st.LastKnownGood, ""
	if v, ok := st.Find(bad); ok {
		st.Rejected = append(st.Rejected, v.SHA256)
	}
	st.Versions = slices.DeleteFunc(st.Versions, func(x Version) bool { return x.Version == bad })
	if err := s.writeStateLocked(model, st); err != nil {
		return err
	}
	s.fs.Remove(s.Path(model, bad))
	return nil
}

// Reject removes installed version v, which must be neither current nor the
// last known good, and records its hash so it is not fetched again.
func (s *Store) Reject(model string, v Version) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stateLocked(model)
	if err != nil {
		return err
	}
	if v.Version == st.Current || v.Version == st.LastKnownGood {
		return fmt.Errorf("store: reject %s %s: it is in use", model, v.Version)
	}
	st.Versions = slices.DeleteFunc(st.Versions, func(x Version) bool { return x.Version == v.Version })
	if !slices.Contains(st.Rejected, v.SHA256) {
		st.Rejected = append(st.Rejected, v.SHA256)
	}
	if err := s.writeStateLocked(model, st); err != nil {
		return err
	}
	if err := s.fs.Remove(s.Path(model, v.Version)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
