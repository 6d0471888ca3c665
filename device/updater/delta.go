package updater

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sextant-ml/sextant/device/delta"
	"github.com/sextant-ml/sextant/device/store"
)

func (u *Updater) deltaPart(t Target) string {
	return filepath.Join(u.store.DownloadDir(), t.Name+"@"+t.Version+".delta.part")
}

// pickDelta chooses the smallest offered delta from the current version,
// if the target is small enough for deltas and the delta is smaller than
// the bundle.
func (u *Updater) pickDelta(t Target, st store.State) (Delta, store.Version, bool) {
	if t.Length > delta.MaxBundle || st.Current == "" {
		return Delta{}, store.Version{}, false
	}
	base, ok := st.Find(st.Current)
	if !ok {
		return Delta{}, store.Version{}, false
	}
	var best Delta
	found := false
	for _, d := range t.Deltas {
		if d.From == base.Version && d.Length < t.Length && (!found || d.Length < best.Length) {
			best, found = d, true
		}
	}
	return best, base, found
}

// applyDelta fetches the delta (resumably, verified against its own hash),
// decodes it against the mapped base bundle into part, and verifies the
// result against the target. part is synced on success.
func (u *Updater) applyDelta(ctx context.Context, t Target, d Delta, base store.Version, part string) error {
	dp := u.deltaPart(t)
	db := blob{url: u.cfg.BlobURL(d.SHA256), part: dp, length: d.Length, sha256: d.SHA256, model: t.Name, version: t.Version, delta: true}
	if err := u.fetch(ctx, db); err != nil {
		return err
	}
	u.progress(Progress{Model: t.Name, Version: t.Version, Phase: Decoding, Total: t.Length, Delta: true})
	var baseSum [32]byte
	if _, err := hex.Decode(baseSum[:], []byte(base.SHA256)); err != nil {
		return fmt.Errorf("updater: base hash: %w", err)
	}
	mem, unmap, err := mapFile(u.store.Path(t.Name, base.Version))
	if err != nil {
		return err
	}
	defer unmap()
	err = u.decode(dp, part, mem, baseSum, t)
	if err != nil {
		var ve *VerificationError
		if errors.As(err, &ve) {
			u.removeDownload(dp)
			u.store.FS().Remove(part)
		}
		return err
	}
	u.removeDownload(dp)
	return nil
}

func (u *Updater) decode(dp, part string, base []byte, baseSum [32]byte, t Target) error {
	fsys := u.store.FS()
	in, err := fsys.OpenFile(dp, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	defer in.Close()
	dec, err := delta.NewDecoder(in, base, baseSum, t.Length)
	if err != nil {
		return err
	}
	defer dec.Close()
	out, err := fsys.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	defer out.Close()
	h := sha256.New()
	w := &errWriter{w: io.MultiWriter(out, h)}
	n, err := io.CopyBuffer(w, dec, u.buffer())
	if w.err != nil {
		return fmt.Errorf("updater: write %s: %w", part, w.err)
	}
	if err != nil {
		return &VerificationError{Model: t.Name, Version: t.Version, Reason: "delta does not decode to the target", Err: err}
	}
	if n != t.Length {
		return &VerificationError{Model: t.Name, Version: t.Version, Reason: "delta output length", Err: fmt.Errorf("decoded %d bytes, target is %d", n, t.Length)}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != t.SHA256 {
		return &VerificationError{Model: t.Name, Version: t.Version, Reason: "delta output hash", Err: fmt.Errorf("got sha256 %s, metadata says %s", got, t.SHA256)}
	}
	u.point("verified")
	if err := out.Sync(); err != nil {
		return fmt.Errorf("updater: sync %s: %w", part, err)
	}
	u.point("fsync")
	return nil
}

// errWriter remembers its writer's error, to tell a failed write from a
// failed decode.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
