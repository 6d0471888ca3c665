package bundle

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic opens every bundle. Like PNG's signature it starts with a non-ASCII
// byte and holds CR LF, ^Z and LF, so text-mode transfers are detected.
const Magic = "\x89SXM\r\n\x1a\n"

// FormatVersion is the version of the file layout this package writes and
// the newest it reads.
const FormatVersion = 1

// HeaderSize is the length of the fixed header at the start of the file.
const HeaderSize = 128

// Header field offsets.
const (
	offMagic    = 0
	offVersion  = 8
	offFlags    = 12
	offHdrLen   = 16
	offReserved = 20
	offSections = 24 // four (offset, length) pairs
	offFileSize = 88
	offHash     = 96
	hashLen     = 32
)

// requiredFlags are the flag bits a reader must understand to read the file;
// none are defined in format version 1.
const requiredFlags = 0x0000ffff

// Limits on what a file may declare; they bound the work and memory Open
// spends on a hostile file beyond what the file's size already bounds.
const (
	maxTensors    = 1 << 20
	maxValues     = 1 << 20
	maxNodes      = 1 << 20
	maxEdges      = 1 << 22
	maxRank       = 64
	maxManifest   = 64 << 20
	maxStringElem = 1 << 30
)

// Section identifies one of the file's sections.
type Section int

// The sections, in file order.
const (
	SectionManifest Section = iota
	SectionGraph
	SectionTable
	SectionData
	numSections
)

func (s Section) String() string {
	switch s {
	case SectionManifest:
		return "manifest"
	case SectionGraph:
		return "graph"
	case SectionTable:
		return "tensor table"
	case SectionData:
		return "tensor data"
	}
	return fmt.Sprintf("section(%d)", int(s))
}

// Span is the position of a section in the file.
type Span struct {
	Offset, Length uint64
}

// Header is the decoded fixed header of a bundle.
type Header struct {
	// Version is the format version the file was written in.
	Version uint32
	// Flags are the file's feature flags (none are defined in version 1).
	Flags uint32
	// Sections are the manifest, graph, table and data sections, indexed by
	// Section.
	Sections [numSections]Span
	// Size is the file's length in bytes, as the header records it.
	Size uint64
	// SHA256 is the stored content hash: SHA-256 over every byte of the file
	// except the 32 that hold it.
	SHA256 [32]byte
}

// ErrChecksum is wrapped by the error Verify returns when the content hash
// does not match the file.
var ErrChecksum = errors.New("bundle: content hash mismatch")

// ErrVersion is wrapped by the error for a file written in a format version
// newer than this package reads, or using a required feature it lacks.
var ErrVersion = errors.New("bundle: unsupported format version")

// FormatError reports a malformed bundle: a structural problem found while
// opening or verifying it.
type FormatError struct {
	// Section is where the problem is; -1 for the header or the file as a
	// whole.
	Section Section
	// Reason says what is wrong, for people.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *FormatError) Error() string {
	where := "header"
	if e.Section >= 0 {
		where = e.Section.String()
	}
	if e.Err != nil {
		return fmt.Sprintf("bundle: malformed %s: %s: %v", where, e.Reason, e.Err)
	}
	return fmt.Sprintf("bundle: malformed %s: %s", where, e.Reason)
}

func (e *FormatError) Unwrap() error { return e.Err }

const inHeader Section = -1

func formatErr(s Section, err error, format string, args ...any) *FormatError {
	return &FormatError{Section: s, Reason: fmt.Sprintf(format, args...), Err: err}
}

// encode writes h into the first HeaderSize bytes of b.
func (h *Header) encode(b []byte) {
	clear(b[:HeaderSize])
	copy(b[offMagic:], Magic)
	le := binary.LittleEndian
	le.PutUint32(b[offVersion:], h.Version)
	le.PutUint32(b[offFlags:], h.Flags)
	le.PutUint32(b[offHdrLen:], HeaderSize)
	for i, s := range h.Sections {
		le.PutUint64(b[offSections+16*i:], s.Offset)
		le.PutUint64(b[offSections+16*i+8:], s.Length)
	}
	le.PutUint64(b[offFileSize:], h.Size)
	copy(b[offHash:], h.SHA256[:])
}

// parseHeader decodes and checks the header in b, the file's first bytes.
// It checks the fields' own consistency; the caller compares Size with the
// real file size.
func parseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, formatErr(inHeader, nil, "file is %d bytes, shorter than the %d-byte header", len(b), HeaderSize)
	}
	if string(b[:len(Magic)]) != Magic {
		return h, formatErr(inHeader, nil, "not a Sextant bundle (bad magic %q)", b[:len(Magic)])
	}
	le := binary.LittleEndian
	h.Version = le.Uint32(b[offVersion:])
	h.Flags = le.Uint32(b[offFlags:])
	if h.Version == 0 || h.Version > FormatVersion {
		return h, formatErr(inHeader, ErrVersion, "format version %d (this reader supports 1 to %d)", h.Version, FormatVersion)
	}
	if f := h.Flags & requiredFlags; f != 0 {
		return h, formatErr(inHeader, ErrVersion, "required feature flags %#x not understood", f)
	}
	if n := le.Uint32(b[offHdrLen:]); n != HeaderSize {
		return h, formatErr(inHeader, nil, "header length %d, want %d", n, HeaderSize)
	}
	if r := le.Uint32(b[offReserved:]); r != 0 {
		return h, formatErr(inHeader, nil, "reserved field is %#x, want 0", r)
	}
	h.Size = le.Uint64(b[offFileSize:])
	copy(h.SHA256[:], b[offHash:offHash+hashLen])
	prevEnd := uint64(HeaderSize)
	for i := range h.Sections {
		s := Span{le.Uint64(b[offSections+16*i:]), le.Uint64(b[offSections+16*i+8:])}
		end := s.Offset + s.Length
		switch {
		case end < s.Offset:
			return h, formatErr(inHeader, nil, "%v section length %d overflows", Section(i), s.Length)
		case s.Offset < prevEnd:
			return h, formatErr(inHeader, nil, "%v section at %d overlaps what precedes it (ends at %d)", Section(i), s.Offset, prevEnd)
		case end > h.Size:
			return h, formatErr(inHeader, nil, "%v section [%d, %d) extends past the %d-byte file", Section(i), s.Offset, end, h.Size)
		}
		h.Sections[i] = s
		prevEnd = end
	}
	if d := h.Sections[SectionData]; d.Offset%alignment != 0 {
		return h, formatErr(inHeader, nil, "tensor data section at %d is not %d-byte aligned", d.Offset, alignment)
	}
	if s := h.Sections[SectionManifest]; s.Length > maxManifest {
		return h, formatErr(inHeader, nil, "manifest of %d bytes exceeds the %d-byte limit", s.Length, maxManifest)
	}
	return h, nil
}

// slice returns section s of file b; the header has been checked against
// len(b).
func (h *Header) slice(b []byte, s Section) []byte {
	sp := h.Sections[s]
	return b[sp.Offset : sp.Offset+sp.Length : sp.Offset+sp.Length]
}
