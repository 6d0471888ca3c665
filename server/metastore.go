package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/delivery/signing"
)

// Repository names in a MetadataStore.
const (
	repoImage    = "image"
	repoDirector = "director"
)

// MetadataStore keeps every signed metadata document the server has served,
// durably, so a restart serves the same chain.
type MetadataStore interface {
	// Put stores files of repo ("image" or "director") durably. Every file
	// names its Role and Version; a file already stored is replaced.
	Put(ctx context.Context, repo string, files []signing.File) error
	// Load returns every stored file of repo (Role, Version and Data set).
	Load(ctx context.Context, repo string) ([]signing.File, error)
}

// MetadataDir is a MetadataStore on a file system: DIR/REPO/N.ROLE.json
// (role path-escaped, timestamp versioned too), each written through a
// synced temporary file and a rename.
//
// It suits a single server. Replicas sharing PostgreSQL need the metadata
// in the database (a store table) instead; the interface is the seam.
type MetadataDir struct {
	Dir string
}

var fileName = regexp.MustCompile(`^(\d+)\.([a-zA-Z0-9._%-]+)\.json$`)

func storedName(f signing.File) string {
	return strconv.FormatInt(f.Version, 10) + "." + url.PathEscape(f.Role) + ".json"
}

// Put implements MetadataStore.
func (d MetadataDir) Put(ctx context.Context, repo string, files []signing.File) error {
	dir := filepath.Join(d.Dir, repo)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("server: metadata dir: %w", err)
	}
	for _, f := range files {
		if f.Version <= 0 || f.Role == "" {
			return fmt.Errorf("server: metadata file %q has no role or version", f.Path)
		}
		if err := writeAtomic(filepath.Join(dir, storedName(f)), f.Data); err != nil {
			return err
		}
	}
	return syncPath(dir)
}

// Load implements MetadataStore.
func (d MetadataDir) Load(ctx context.Context, repo string) ([]signing.File, error) {
	return readMetadataDir(filepath.Join(d.Dir, repo))
}

// readMetadataDir reads the N.ROLE.json files of dir; a missing dir holds
// none.
func readMetadataDir(dir string) ([]signing.File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: metadata dir: %w", err)
	}
	var out []signing.File
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= 0 {
			continue
		}
		role, err := url.PathUnescape(m[2])
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("server: metadata: %w", err)
		}
		out = append(out, signing.File{Role: role, Version: v, Path: signing.MetadataPath(role, v), Data: data})
	}
	return out, nil
}

// seedFromKeyDir reads the metadata `sextant keys init` wrote into a key
// directory: image repository files in KEYDIR/metadata (roots and targets,
// named by signing.MetadataPath) and director roots in
// KEYDIR/metadata/director.
func seedFromKeyDir(kd signing.KeyDir) (image, director []signing.File, err error) {
	if image, err = readMetadataDir(kd.MetadataDir()); err != nil {
		return nil, nil, err
	}
	if director, err = readMetadataDir(kd.DirectorMetadataDir()); err != nil {
		return nil, nil, err
	}
	for i := range director {
		if director[i].Role != "root" {
			return nil, nil, fmt.Errorf("server: unexpected %s in %s", director[i].Role, kd.DirectorMetadataDir())
		}
	}
	return image, director, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("server: metadata: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("server: metadata: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("server: metadata: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("server: metadata: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("server: metadata: %w", err)
	}
	return nil
}

func syncPath(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("server: metadata: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return fmt.Errorf("server: metadata: %w", err)
	}
	return nil
}
