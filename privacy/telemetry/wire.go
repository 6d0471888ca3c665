package telemetry

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/privacy/ldp"
)

// WireVersion is the first byte of every report.
const WireVersion = 1

// Mechanism codes on the wire.
const (
	wireNone = 0
	wireCMS  = 1
	wireHCMS = 2
)

// Report is a report as it travels: everything it carries. It has, by
// design, no device identifier, timestamp or sequence number.
type Report struct {
	Stream    string
	Mechanism Mechanism
	// Row is the hash function index j (cms, hcms).
	Row int
	// Bits are the CMS vector's NBits bits, bit i at Bits[i/8]>>(i%8).
	Bits  []byte
	NBits int
	// Col and Bit are the HCMS column and its ±1 bit.
	Col int
	Bit int8
	// Item is the public item of a none stream.
	Item []byte
}

// Limits bound what Parse accepts.
type Limits struct {
	MaxStream, MaxRows, MaxBits, MaxItem int
}

// DefaultLimits are the schema limits.
var DefaultLimits = Limits{MaxStream: MaxNameLen, MaxRows: MaxSketchRows, MaxBits: MaxSketchBits, MaxItem: 4096}

// AppendReport appends the wire form of r to b:
//
//	version(1) mechanism(1) uvarint(len stream) stream
//	cms:  uvarint(row) uvarint(nbits) ⌈nbits/8⌉ bytes (padding bits zero)
//	hcms: uvarint(row) uvarint(col) bit(1: 0 for -1, 1 for +1)
//	none: uvarint(len item) item
//
// It does not validate r; Parse does.
func AppendReport(b []byte, r *Report) []byte {
	b = append(b, WireVersion, wireCode(r.Mechanism))
	b = binary.AppendUvarint(b, uint64(len(r.Stream)))
	b = append(b, r.Stream...)
	switch r.Mechanism {
	case CMS:
		b = binary.AppendUvarint(b, uint64(r.Row))
		b = binary.AppendUvarint(b, uint64(r.NBits))
		b = append(b, r.Bits...)
	case HCMS:
		b = binary.AppendUvarint(b, uint64(r.Row))
		b = binary.AppendUvarint(b, uint64(r.Col))
		bit := byte(0)
		if r.Bit > 0 {
			bit = 1
		}
		b = append(b, bit)
	default:
		b = binary.AppendUvarint(b, uint64(len(r.Item)))
		b = append(b, r.Item...)
	}
	return b
}

func wireCode(m Mechanism) byte {
	switch m {
	case CMS:
		return wireCMS
	case HCMS:
		return wireHCMS
	}
	return wireNone
}

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("telemetry: malformed report")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// reader consumes b front to back.
type reader struct{ b []byte }

// uvarint reads a minimal uvarint no larger than limit.
func (r *reader) uvarint(what string, limit int) (int, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, malformed("%s: bad varint", what)
	}
	if n != uvarintLen(v) {
		return 0, malformed("%s: non-minimal varint", what)
	}
	if v > uint64(limit) {
		return 0, malformed("%s %d exceeds %d", what, v, limit)
	}
	r.b = r.b[n:]
	return int(v), nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (r *reader) bytes(what string, n int) ([]byte, error) {
	if n > len(r.b) {
		return nil, malformed("%s: %d bytes, %d left", what, n, len(r.b))
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out, nil
}

// ParseReport parses one report, which must fill b exactly. The returned
// report's byte slices alias b. Every length is bounded by lim and only the
// canonical encoding is accepted.
func ParseReport(b []byte, lim Limits) (Report, error) {
	var rep Report
	r := reader{b: b}
	head, err := r.bytes("header", 2)
	if err != nil {
		return rep, err
	}
	if head[0] != WireVersion {
		return rep, malformed("version %d", head[0])
	}
	n, err := r.uvarint("stream length", lim.MaxStream)
	if err != nil {
		return rep, err
	}
	name, err := r.bytes("stream", n)
	if err != nil {
		return rep, err
	}
	rep.Stream = string(name)
	if !validName(rep.Stream) {
		return rep, malformed("stream name %q", rep.Stream)
	}
	switch head[1] {
	case wireCMS:
		rep.Mechanism = CMS
		if rep.Row, err = r.uvarint("row", lim.MaxRows-1); err != nil {
			return rep, err
		}
		if rep.NBits, err = r.uvarint("bit count", lim.MaxBits); err != nil {
			return rep, err
		}
		if rep.NBits < 2 {
			return rep, malformed("bit count %d", rep.NBits)
		}
		if rep.Bits, err = r.bytes("bits", (rep.NBits+7)/8); err != nil {
			return rep, err
		}
		if pad := rep.NBits % 8; pad != 0 && rep.Bits[len(rep.Bits)-1]>>pad != 0 {
			return rep, malformed("padding bits set")
		}
	case wireHCMS:
		rep.Mechanism = HCMS
		if rep.Row, err = r.uvarint("row", lim.MaxRows-1); err != nil {
			return rep, err
		}
		if rep.Col, err = r.uvarint("column", lim.MaxBits-1); err != nil {
			return rep, err
		}
		bit, err := r.bytes("bit", 1)
		if err != nil {
			return rep, err
		}
		switch bit[0] {
		case 0:
			rep.Bit = -1
		case 1:
			rep.Bit = 1
		default:
			return rep, malformed("bit byte %d", bit[0])
		}
	case wireNone:
		rep.Mechanism = None
		if n, err = r.uvarint("item length", lim.MaxItem); err != nil {
			return rep, err
		}
		if rep.Item, err = r.bytes("item", n); err != nil {
			return rep, err
		}
	default:
		return rep, malformed("mechanism %d", head[1])
	}
	if len(r.b) != 0 {
		return rep, malformed("%d trailing bytes", len(r.b))
	}
	return rep, nil
}

// Check verifies that a parsed report fits its stream's schema (the server
// does this before aggregating).
func (s *Schema) Check(rep *Report) error {
	if rep.Stream != s.Name || rep.Mechanism != s.Mechanism {
		return fmt.Errorf("telemetry: report for %s/%s does not match stream %s/%s", rep.Stream, rep.Mechanism, s.Name, s.Mechanism)
	}
	switch s.Mechanism {
	case CMS:
		if rep.Row >= s.K || rep.NBits != s.M {
			return fmt.Errorf("telemetry: cms report row %d bits %d, stream has k=%d m=%d", rep.Row, rep.NBits, s.K, s.M)
		}
	case HCMS:
		if rep.Row >= s.K || rep.Col >= s.M {
			return fmt.Errorf("telemetry: hcms report row %d col %d, stream has k=%d m=%d", rep.Row, rep.Col, s.K, s.M)
		}
	}
	return nil
}

// LDP converts a cms or hcms report to the sketch's report type.
func (rep *Report) LDP() ldp.Report {
	return ldp.Report{Row: rep.Row, Bits: rep.Bits, Col: rep.Col, Bit: rep.Bit}
}
