// Package delta encodes and decodes bundle delta updates: the new bundle
// compressed with zstd (github.com/klauspost/compress/zstd) at its best
// level, with the previous bundle as a raw dictionary ("patch from" in
// zstd's terms), so unchanged weights cost a few bytes per match.
//
// Deltas are offered for bundles up to MaxBundle bytes: the window must span
// the dictionary and the output, and the decoder keeps that window in
// memory. The frame names the dictionary by DictID, derived from the
// previous bundle's SHA-256, so a delta applied to the wrong base fails to
// decode instead of producing garbage (the result is verified against the
// target hash in any case).
package delta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// MaxBundle is the largest bundle delta updates are offered for (64 MiB).
const MaxBundle = 64 << 20

// maxWindow is the decoder's window bound: dictionary plus output.
const maxWindow = 2 * MaxBundle

// DictID names a base bundle in a delta frame: the first four bytes of its
// SHA-256, big-endian, made nonzero (zstd reserves 0 for "no dictionary").
func DictID(baseSHA256 [32]byte) uint32 {
	id := binary.BigEndian.Uint32(baseSHA256[:4])
	if id == 0 {
		id = 1
	}
	return id
}

// window returns the power-of-two window for a base of base bytes and a
// target of n. A weight unchanged between versions sits about len(base)
// behind its copy in the output, further by what was inserted before it;
// the window covers the base and a quarter of the target of such shift. The
// decoder holds the window in memory, so it is not the whole base+target.
func window(base, n int) int {
	w := 1 << bits.Len(uint(base+n/4))
	return max(w, zstd.MinWindowSize)
}

// Encode writes the delta from base (whose SHA-256 is baseSHA) to the new
// bundle next. It is the server's side; it holds both files in memory.
func Encode(w io.Writer, base []byte, baseSHA [32]byte, next []byte) error {
	if len(base) > MaxBundle || len(next) > MaxBundle {
		return fmt.Errorf("delta: bundles over %d bytes get no delta", MaxBundle)
	}
	enc, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithEncoderDictRaw(DictID(baseSHA), base),
		zstd.WithWindowSize(window(len(base), len(next))),
		zstd.WithEncoderConcurrency(1),
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	if _, err := enc.Write(next); err != nil {
		enc.Close()
		return fmt.Errorf("delta: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	return nil
}

// ErrTooLarge is returned by the decoder when the output would pass the
// limit given to NewDecoder.
var ErrTooLarge = errors.New("delta: output longer than the target")

// Decoder streams a delta's output.
type Decoder struct {
	d     *zstd.Decoder
	limit int64
	n     int64
}

// NewDecoder decodes the delta r against base (which it reads but does not
// copy; base must stay valid until Close). It yields at most limit bytes
// and fails with ErrTooLarge past that, so a hostile delta cannot expand
// without bound. It decodes on the calling goroutine.
func NewDecoder(r io.Reader, base []byte, baseSHA [32]byte, limit int64) (*Decoder, error) {
	d, err := zstd.NewReader(r,
		zstd.WithDecoderDictRaw(DictID(baseSHA), base),
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("delta: %w", err)
	}
	return &Decoder{d: d, limit: limit}, nil
}

// Read reads decoded bytes.
func (d *Decoder) Read(p []byte) (int, error) {
	if room := d.limit - d.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := d.d.Read(p)
	d.n += int64(n)
	if d.n > d.limit {
		return n, ErrTooLarge
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("delta: %w", err)
	}
	return n, err
}

// Close releases the decoder.
func (d *Decoder) Close() { d.d.Close() }
