package updater

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sextant-ml/sextant/device/store"
	"github.com/sextant-ml/sextant/device/transport"
)

// sidecarSize is the fixed size of a .part.json record: rewritten in one
// write at offset 0, so a kill never leaves half of an old and half of a
// new record.
const sidecarSize = 512

// pointBytes spaces the test hook's download points, so a test can pick
// one deterministically.
const pointBytes = 64 << 10

// sidecar is the persisted state of a partial download.
type sidecar struct {
	URL    string `json:"url"`
	ETag   string `json:"etag,omitempty"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
}

// blob is one file to fetch and what it must be.
type blob struct {
	url    string
	part   string // destination .part path
	length int64
	sha256 string // hex
	// for errors and progress
	model, version string
	delta          bool
}

// download is one in-progress fetch.
type download struct {
	u    *Updater
	b    blob
	f    store.File
	side store.File
	h    hash.Hash
	off  int64 // bytes in f and hashed
	sync int64 // bytes durable (offset in the sidecar)
	etag string
	// Fetched counts bytes received from the network, for tests.
	fetched int64
}

func (u *Updater) verr(b blob, reason string, err error) error {
	return &VerificationError{Model: b.model, Version: b.version, Reason: reason, Err: err}
}

// fetch downloads b into b.part, resuming a previous partial download, and
// verifies its length and hash. On success the .part is complete and synced
// and the sidecar removed. On a network error the durable progress is kept
// for the next attempt; on a verification error both files are removed.
func (u *Updater) fetch(ctx context.Context, b blob) (err error) {
	fsys := u.store.FS()
	d := &download{u: u, b: b, h: sha256.New()}
	if d.f, err = fsys.OpenFile(b.part, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	defer d.f.Close()
	if d.side, err = fsys.OpenFile(b.part+".json", os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	defer d.side.Close()
	// Make the two names durable, or a crash loses the progress they hold.
	if err := fsys.SyncDir(filepath.Dir(b.part)); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	if err := d.resume(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		restart, err := d.get(ctx)
		if err != nil {
			var ve *VerificationError
			if errors.As(err, &ve) {
				d.f.Close()
				d.side.Close()
				fsys.Remove(b.part)
				fsys.Remove(b.part + ".json")
			}
			return err
		}
		if !restart {
			break
		}
		if attempt == 2 {
			return &NetworkError{URL: b.url, Err: errors.New("the server keeps changing the file")}
		}
	}
	var sum [32]byte
	d.h.Sum(sum[:0])
	if got := hex.EncodeToString(sum[:]); got != b.sha256 {
		d.f.Close()
		fsys.Remove(b.part)
		fsys.Remove(b.part + ".json")
		return u.verr(b, "hash mismatch", fmt.Errorf("got sha256 %s, metadata says %s", got, b.sha256))
	}
	u.point("verified")
	// Sync the data and record it complete, so a crash before the rename
	// re-verifies from disk instead of fetching again.
	if err := d.checkpoint(); err != nil {
		return err
	}
	u.point("fsync")
	return nil
}

// resume restores the durable prefix: it reads the sidecar, re-hashes that
// many bytes of the .part and truncates the rest.
func (d *download) resume() error {
	var rec [sidecarSize]byte
	n, _ := d.side.ReadAt(rec[:], 0)
	var sc sidecar
	if n > 0 && json.Unmarshal(bytes.TrimRight(rec[:n], " \x00"), &sc) == nil &&
		sc.URL == d.b.url && sc.Length == d.b.length && sc.SHA256 == d.b.sha256 && sc.Offset <= d.b.length {
		if st, err := d.f.Stat(); err == nil && st.Size() >= sc.Offset {
			d.off, d.etag = sc.Offset, sc.ETag
		}
	}
	if d.off > 0 {
		buf := d.u.buffer()
		if _, err := io.CopyBuffer(d.h, io.NewSectionReader(d.f, 0, d.off), buf); err != nil {
			return fmt.Errorf("updater: re-hash %s: %w", d.b.part, err)
		}
	}
	d.sync = d.off
	if err := d.f.Truncate(d.off); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	return nil
}

// restartFromZero forgets the partial content.
func (d *download) restartFromZero() error {
	d.off, d.sync, d.etag = 0, 0, ""
	d.h.Reset()
	if err := d.f.Truncate(0); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	return d.checkpoint()
}

// checkpoint makes the bytes so far durable and records them.
func (d *download) checkpoint() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("updater: sync %s: %w", d.b.part, err)
	}
	b, err := json.Marshal(sidecar{URL: d.b.url, ETag: d.etag, Offset: d.off, Length: d.b.length, SHA256: d.b.sha256})
	if err != nil {
		return err
	}
	if len(b) > sidecarSize {
		return fmt.Errorf("updater: download record for %s is %d bytes, over %d", d.b.url, len(b), sidecarSize)
	}
	var rec [sidecarSize]byte
	copy(rec[:], b)
	copy(rec[len(b):], bytes.Repeat([]byte{' '}, sidecarSize-len(b)))
	if _, err := d.side.WriteAt(rec[:], 0); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	if err := d.side.Sync(); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	d.sync = d.off
	return nil
}

// get issues one GET for the rest of the file and streams it. It reports
// restart when the server's answer means starting over with a new request.
func (d *download) get(ctx context.Context) (restart bool, err error) {
	b := d.b
	if d.off == b.length && b.length > 0 {
		return false, nil
	}
	req := transport.Request{URL: b.url}
	if d.off > 0 {
		req.Offset = d.off
		if d.etag != "" && !strings.HasPrefix(d.etag, "W/") {
			req.IfRange = d.etag
		}
	}
	resp, err := d.u.transport.Get(ctx, req)
	if err != nil {
		return false, &NetworkError{URL: b.url, Err: err}
	}
	defer resp.Body.Close()
	switch resp.Status {
	case transport.StatusPartialContent:
		if d.off == 0 || !rangeStartsAt(resp.ContentRange, d.off, b.length) ||
			(d.etag != "" && resp.ETag != d.etag) {
			return true, d.restartFromZero()
		}
	case transport.StatusOK:
		// The whole file: the resource changed (If-Range failed) or the
		// server ignores ranges. Start over on this body.
		if d.off > 0 {
			if err := d.restartFromZero(); err != nil {
				return false, err
			}
		}
	case transport.StatusRangeNotSatisfiable:
		return true, d.restartFromZero()
	default:
		return false, &NetworkError{URL: b.url, Status: resp.Status}
	}
	if et := resp.ETag; et != d.etag {
		d.etag = et
	}
	return false, d.stream(ctx, resp.Body)
}

// stream copies body to the .part from d.off, hashing as it goes, with one
// bounded buffer, checkpointing every CheckpointBytes.
func (d *download) stream(ctx context.Context, body io.Reader) error {
	b, u := d.b, d.u
	// One byte more than the rest of the file is enough to notice an
	// endless (or too long) stream.
	r := io.LimitReader(body, b.length-d.off+1)
	buf := u.buffer()
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			d.fetched += int64(n)
			u.fetched.Add(int64(n))
			if d.off+int64(n) > b.length {
				return u.verr(b, "endless data", fmt.Errorf("the server sent more than the %d bytes the metadata allows", b.length))
			}
			if _, err := d.f.WriteAt(buf[:n], d.off); err != nil {
				return fmt.Errorf("updater: write %s: %w", b.part, err)
			}
			d.h.Write(buf[:n])
			for k := d.off/pointBytes + 1; k <= (d.off+int64(n))/pointBytes; k++ {
				u.point("download")
			}
			d.off += int64(n)
			if d.off-d.sync >= u.checkpointBytes() {
				if err := d.checkpoint(); err != nil {
					return err
				}
			}
			u.progress(Progress{Model: b.model, Version: b.version, Phase: Downloading, Done: d.off, Total: b.length, Delta: b.delta})
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// Keep what arrived for the next attempt.
			cerr := d.checkpoint()
			return errors.Join(&NetworkError{URL: b.url, Err: rerr}, cerr)
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(err, d.checkpoint())
		}
	}
	if d.off != b.length {
		cerr := d.checkpoint()
		return errors.Join(&NetworkError{URL: b.url, Err: fmt.Errorf("stream ended at %d of %d bytes: %w", d.off, b.length, io.ErrUnexpectedEOF)}, cerr)
	}
	return nil
}

// rangeStartsAt checks a Content-Range header "bytes START-END/SIZE".
func rangeStartsAt(cr string, off, length int64) bool {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return false
	}
	span, size, ok := strings.Cut(rest, "/")
	if !ok || (size != "*" && size != strconv.FormatInt(length, 10)) {
		return false
	}
	start, _, ok := strings.Cut(span, "-")
	return ok && start == strconv.FormatInt(off, 10)
}

// removeDownload deletes a partial download and its sidecar.
func (u *Updater) removeDownload(part string) {
	for _, p := range []string{part, part + ".json"} {
		if err := u.store.FS().Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("remove partial download", "path", p, "err", err)
		}
	}
}
