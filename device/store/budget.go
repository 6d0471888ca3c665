package store

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sextant-ml/sextant/bundle"
)

// file is one file the budget counts.
type file struct {
	path  string
	size  int64
	model string // "" for a download
	// evictable versions carry their Seq; orphans and downloads have 0 and
	// go first.
	seq       uint64
	inUse     bool
	installed *Version
}

// files lists every file the budget counts.
func (s *Store) filesLocked() ([]file, error) {
	var out []file
	models, err := s.Models()
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		st, err := s.stateLocked(m)
		if err != nil {
			return nil, err
		}
		dir := filepath.Dir(s.Path(m, "x"))
		ents, err := s.fs.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: %w", err)
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil || e.IsDir() {
				continue
			}
			f := file{path: filepath.Join(dir, e.Name()), size: info.Size(), model: m}
			if v, ok := st.Find(strings.TrimSuffix(e.Name(), ".sxm")); ok && strings.HasSuffix(e.Name(), ".sxm") {
				f.seq, f.installed = v.Seq, &v
				f.inUse = v.Version == st.Current || v.Version == st.LastKnownGood
			}
			out = append(out, f)
		}
	}
	ents, err := s.fs.ReadDir(s.DownloadDir())
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && !e.IsDir() {
			out = append(out, file{path: filepath.Join(s.DownloadDir(), e.Name()), size: info.Size()})
		}
	}
	return out, nil
}

// Used returns the bytes the store holds.
func (s *Store) Used() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, err := s.filesLocked()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range fs {
		n += f.size
	}
	return n, nil
}

// Reserve makes room for need more bytes within the budget, evicting first
// orphaned files and downloads not listed in keep, then installed versions
// that are neither current nor last known good, oldest install first. It
// returns an error wrapping ErrNoSpace when that is not enough; it then
// evicts nothing.
func (s *Store) Reserve(need int64, keep ...string) error {
	if s.budget <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	files, err := s.filesLocked()
	if err != nil {
		return err
	}
	var used, freeable int64
	var victims []file
	for _, f := range files {
		used += f.size
		if f.inUse || slices.Contains(keep, f.path) {
			continue
		}
		victims = append(victims, f)
		freeable += f.size
	}
	if used+need <= s.budget {
		return nil
	}
	if used-freeable+need > s.budget {
		return fmt.Errorf("%w: need %d bytes, %d used of %d, at most %d can be freed", ErrNoSpace, need, used, s.budget, freeable)
	}
	slices.SortStableFunc(victims, func(a, b file) int { return cmp.Compare(a.seq, b.seq) })
	for _, v := range victims {
		if used+need <= s.budget {
			break
		}
		if v.installed != nil {
			st, err := s.stateLocked(v.model)
			if err != nil {
				return err
			}
			st.Versions = slices.DeleteFunc(st.Versions, func(x Version) bool { return x.Version == v.installed.Version })
			if err := s.writeStateLocked(v.model, st); err != nil {
				return err
			}
		}
		if err := s.fs.Remove(v.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: evict %s: %w", v.path, err)
		}
		used -= v.size
	}
	return nil
}

// Load opens model's current version by mmap, or, when that file is missing
// or does not open, its last known good. It does not re-hash the file: the
// hash was verified at install.
func (s *Store) Load(model string) (*bundle.Bundle, Version, error) {
	st, err := s.State(model)
	if err != nil {
		return nil, Version{}, err
	}
	var errs []error
	for _, v := range []string{st.Current, st.LastKnownGood} {
		if v == "" {
			continue
		}
		info, ok := st.Find(v)
		if !ok {
			errs = append(errs, fmt.Errorf("version %s has no record", v))
			continue
		}
		b, err := bundle.Open(s.Path(model, v))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return b, info, nil
	}
	return nil, Version{}, fmt.Errorf("store: load %s: %w", model, errors.Join(append([]error{ErrNotInstalled}, errs...)...))
}
