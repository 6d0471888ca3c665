package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"os"
)

// Verify checks a bundle's content hash in one streaming pass over r, which
// must deliver the whole file from its first byte. It returns an error
// wrapping ErrChecksum when the hash does not match, and a *FormatError when
// the header is malformed or the stream's length differs from the size the
// header records. It checks nothing else: Open checks structure.
func Verify(r io.Reader) error {
	var hdr [HeaderSize]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return formatErr(inHeader, nil, "file is %d bytes, shorter than the %d-byte header", n, HeaderSize)
		}
		return fmt.Errorf("bundle: verify: %w", err)
	}
	h, err := parseHeader(hdr[:])
	if err != nil {
		return err
	}
	if h.Size > math.MaxInt64 {
		return formatErr(inHeader, nil, "header records an impossible size %d", h.Size)
	}
	hs := sha256.New()
	hs.Write(hdr[:offHash])
	hs.Write(hdr[offHash+hashLen:])
	// Read at most one byte past the recorded size, so an endless stream
	// costs no more than the file it claims to be.
	n, err := io.Copy(hs, io.LimitReader(r, int64(h.Size-HeaderSize)+1))
	if err != nil {
		return fmt.Errorf("bundle: verify: %w", err)
	}
	if got := uint64(n) + HeaderSize; got != h.Size {
		if got > h.Size {
			return formatErr(inHeader, nil, "file is longer than the %d bytes the header records", h.Size)
		}
		return formatErr(inHeader, nil, "file is %d bytes, header says %d (truncated)", got, h.Size)
	}
	var sum [32]byte
	hs.Sum(sum[:0])
	if sum != h.SHA256 {
		return fmt.Errorf("%w: header records sha256 %x, content hashes to %x", ErrChecksum, h.SHA256, sum)
	}
	return nil
}

// VerifyFile checks the content hash of the bundle at path; see Verify.
func VerifyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	if err := Verify(bufio.NewReaderSize(f, 1<<20)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// verifyBytes checks the hash of a whole file held in memory.
func verifyBytes(b []byte, h Header) error {
	if uint64(len(b)) != h.Size {
		return formatErr(inHeader, nil, "file is %d bytes, header says %d", len(b), h.Size)
	}
	return Verify(bytes.NewReader(b))
}
