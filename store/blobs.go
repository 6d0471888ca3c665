package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sextant-ml/sextant/delivery"
)

// Blobs is a content-addressed blob store on a file system: a blob with
// SHA-256 h lives at <Dir>/sha256/<h>, written once and never changed, so
// readers need no lock and a file's name is its integrity check. Put
// streams through a hasher into a temporary file in <Dir>/tmp, fsyncs it,
// renames it into place and fsyncs the directory: a crash leaves either no
// blob or a whole one (plus, at worst, a stray temporary file that
// NewBlobs removes).
type Blobs struct {
	dir string
	// MaxLength, when positive, caps the size of a blob Put accepts
	// without an announced length, and of any announced one.
	MaxLength int64
}

var _ delivery.BlobStore = (*Blobs)(nil)

// NewBlobs opens (creating if needed) a blob store rooted at dir and
// removes temporary files an interrupted Put left.
func NewBlobs(dir string) (*Blobs, error) {
	b := &Blobs{dir: dir}
	for _, d := range []string{b.objects(), b.tmp()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: blob dir: %w", err)
		}
	}
	stale, err := os.ReadDir(b.tmp())
	if err != nil {
		return nil, fmt.Errorf("store: blob dir: %w", err)
	}
	for _, e := range stale {
		os.Remove(filepath.Join(b.tmp(), e.Name()))
	}
	return b, nil
}

func (b *Blobs) objects() string { return filepath.Join(b.dir, "sha256") }
func (b *Blobs) tmp() string     { return filepath.Join(b.dir, "tmp") }

// Path returns where the blob with the given address lives (it may not
// exist); ErrInvalid if the address is not a SHA-256.
func (b *Blobs) Path(sum string) (string, error) {
	if !delivery.ValidSHA256(sum) {
		return "", delivery.Errorf(delivery.ErrInvalid, "%q is not a SHA-256 content address", sum)
	}
	return filepath.Join(b.objects(), sum), nil
}

// Put implements delivery.BlobStore. It holds at most one copy buffer
// (32 KiB) of the content in memory and stops reading one byte past the
// announced length (or MaxLength), so endless input cannot fill the disk.
func (b *Blobs) Put(ctx context.Context, r io.Reader, want delivery.Blob) (delivery.Blob, error) {
	limit, err := putLimit(want, b.MaxLength)
	if err != nil {
		return delivery.Blob{}, err
	}
	if limit > 0 {
		r = io.LimitReader(r, limit+1)
	}
	f, err := os.CreateTemp(b.tmp(), "put-*")
	if err != nil {
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	tmpName := f.Name()
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmpName)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	got := delivery.Blob{SHA256: hex.EncodeToString(h.Sum(nil)), Length: n}
	if err := checkPut(want, got, limit, b.MaxLength); err != nil {
		return delivery.Blob{}, err
	}
	if err := f.Sync(); err != nil {
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	f = nil
	final := filepath.Join(b.objects(), got.SHA256)
	if err := os.Chmod(tmpName, 0o444); err != nil {
		os.Remove(tmpName)
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	// Same content, same name: replacing an existing blob is harmless.
	if err := os.Rename(tmpName, final); err != nil {
		os.Remove(tmpName)
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	if err := syncDir(b.objects()); err != nil {
		return delivery.Blob{}, fmt.Errorf("store: put blob: %w", err)
	}
	return got, nil
}

// putLimit checks a Put's announced blob against maxLength (0: no limit)
// and returns how many bytes the content may have (0: any number).
func putLimit(want delivery.Blob, maxLength int64) (int64, error) {
	if want.SHA256 != "" && !delivery.ValidSHA256(want.SHA256) {
		return 0, delivery.Errorf(delivery.ErrInvalid, "%q is not a SHA-256 content address", want.SHA256)
	}
	if want.Length < 0 || maxLength > 0 && want.Length > maxLength {
		return 0, delivery.Errorf(delivery.ErrInvalid, "blob length %d out of range", want.Length)
	}
	if want.Length > 0 {
		return want.Length, nil
	}
	return maxLength, nil
}

// checkPut checks the blob a Put read, got (its length counting one byte
// past limit if there was one), against the announced want.
func checkPut(want, got delivery.Blob, limit, maxLength int64) error {
	switch {
	case limit > 0 && got.Length > limit:
		if want.Length > 0 {
			return delivery.Errorf(delivery.ErrIntegrity, "blob is longer than its announced %d bytes", want.Length)
		}
		return delivery.Errorf(delivery.ErrInvalid, "blob exceeds the %d-byte limit", maxLength)
	case want.Length > 0 && got.Length != want.Length:
		return delivery.Errorf(delivery.ErrIntegrity, "blob has %d bytes, announced %d", got.Length, want.Length)
	case want.SHA256 != "" && got.SHA256 != want.SHA256:
		return delivery.Errorf(delivery.ErrIntegrity, "blob hashes to %s, announced %s", got.SHA256, want.SHA256)
	}
	return nil
}

// Open implements delivery.BlobStore; the reader is an *os.File.
func (b *Blobs) Open(ctx context.Context, sum string) (delivery.BlobReader, delivery.Blob, error) {
	p, err := b.Path(sum)
	if err != nil {
		return nil, delivery.Blob{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, delivery.Blob{}, delivery.Errorf(delivery.ErrNotFound, "blob %s not found", sum)
	}
	if err != nil {
		return nil, delivery.Blob{}, fmt.Errorf("store: open blob: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, delivery.Blob{}, fmt.Errorf("store: open blob: %w", err)
	}
	return f, delivery.Blob{SHA256: sum, Length: fi.Size()}, nil
}

// Stat implements delivery.BlobStore.
func (b *Blobs) Stat(ctx context.Context, sum string) (delivery.Blob, error) {
	p, err := b.Path(sum)
	if err != nil {
		return delivery.Blob{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return delivery.Blob{}, delivery.Errorf(delivery.ErrNotFound, "blob %s not found", sum)
	}
	if err != nil {
		return delivery.Blob{}, fmt.Errorf("store: stat blob: %w", err)
	}
	return delivery.Blob{SHA256: sum, Length: fi.Size()}, nil
}

// Delete implements delivery.BlobStore.
func (b *Blobs) Delete(ctx context.Context, sum string) error {
	p, err := b.Path(sum)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: delete blob: %w", err)
	}
	return syncDir(b.objects())
}

// syncDir fsyncs a directory so a rename or removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
