package signing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"filippo.io/age"
)

// KeyDir is the operator's key directory. Offline keys (root, targets) are
// stored as ROLE.key.age, encrypted with age's scrypt recipient under a
// passphrase: an operator remembers or vaults one secret, and there is no
// second identity file to guard. Online keys (snapshot, timestamp,
// director) are stored in online/ROLE.key in the clear with mode 0600: the
// server needs them unattended, and they are copied to it. Signed root
// metadata lives in metadata/ (image) and metadata/director/.
type KeyDir struct {
	// Dir is the directory.
	Dir string
	// Passphrase encrypts and decrypts the offline keys.
	Passphrase string
	// WorkFactor is age's scrypt work factor (log2 N) for new files;
	// zero means age's default (18, about a second per key). Tests lower it.
	WorkFactor int
}

// OfflineRoles are kept encrypted; OnlineRoles are held by the server.
var (
	OfflineRoles = []string{"root", "targets"}
	OnlineRoles  = []string{"snapshot", "timestamp", "director"}
)

// IsOffline reports whether role's key is an offline key.
func IsOffline(role string) bool { return slices.Contains(OfflineRoles, role) }

func (d KeyDir) keyPath(role string) string {
	if IsOffline(role) {
		return filepath.Join(d.Dir, role+".key.age")
	}
	return filepath.Join(d.Dir, "online", role+".key")
}

// RetiredPath is where a rotated-out key is kept (it may still be needed to
// read old metadata; it signs nothing new).
func (d KeyDir) retiredPath(k *Key) string {
	return filepath.Join(d.Dir, "retired", k.Role+"-"+short(k.ID)+".key.age")
}

// Save writes k to the directory (encrypted if its role is offline),
// refusing to overwrite an existing key unless replace is set.
func (d KeyDir) Save(k *Key, replace bool) error {
	p := d.keyPath(k.Role)
	if _, err := os.Stat(p); err == nil && !replace {
		return fmt.Errorf("signing: %s exists: %w", p, os.ErrExist)
	}
	data, err := k.MarshalPrivate()
	if err != nil {
		return err
	}
	if IsOffline(k.Role) {
		if data, err = d.encrypt(data); err != nil {
			return err
		}
	}
	return writeFileAtomic(p, data)
}

// Retire moves a key's file aside, encrypted whatever its role.
func (d KeyDir) Retire(k *Key) error {
	data, err := k.MarshalPrivate()
	if err != nil {
		return err
	}
	enc, err := d.encrypt(data)
	if err != nil {
		return err
	}
	return writeFileAtomic(d.retiredPath(k), enc)
}

// Load reads role's key.
func (d KeyDir) Load(role string) (*Key, error) {
	data, err := os.ReadFile(d.keyPath(role))
	if err != nil {
		return nil, fmt.Errorf("signing: %s key: %w", role, err)
	}
	if IsOffline(role) {
		if data, err = d.decrypt(data); err != nil {
			return nil, fmt.Errorf("signing: %s key: %w", role, err)
		}
	}
	k, err := UnmarshalKey(data)
	if err != nil {
		return nil, err
	}
	if k.Role != role {
		return nil, fmt.Errorf("signing: %s key file holds a %s key", role, k.Role)
	}
	return k, nil
}

func (d KeyDir) encrypt(data []byte) ([]byte, error) {
	if d.Passphrase == "" {
		return nil, fmt.Errorf("signing: offline keys need a passphrase")
	}
	r, err := age.NewScryptRecipient(d.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if d.WorkFactor > 0 {
		r.SetWorkFactor(d.WorkFactor)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("signing: encrypt key: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return nil, fmt.Errorf("signing: encrypt key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("signing: encrypt key: %w", err)
	}
	return buf.Bytes(), nil
}

func (d KeyDir) decrypt(data []byte) ([]byte, error) {
	id, err := age.NewScryptIdentity(d.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: %v", ErrWrongPassphrase, err)
	}
	return io.ReadAll(io.LimitReader(r, 1<<16))
}

// MetadataDir is where the image repository's metadata is kept;
// DirectorMetadataDir the director's.
func (d KeyDir) MetadataDir() string         { return filepath.Join(d.Dir, "metadata") }
func (d KeyDir) DirectorMetadataDir() string { return filepath.Join(d.Dir, "metadata", "director") }

// WriteFiles writes signed metadata files under dir by their Path.
func WriteFiles(dir string, files []File) error {
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(f.Path)), f.Data); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, with mode 0600.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("signing: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("signing: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	return nil
}
