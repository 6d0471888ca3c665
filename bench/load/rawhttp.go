package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
)

// rawConn is a minimal HTTP/1.1 keep-alive client connection for the
// check-in loop: it writes each request with one syscall from a reused
// buffer and reads just the status, Content-Length (or chunks) and body,
// so the generator spends far less CPU per request than net/http's client
// and the server, not the generator, is what is measured.
type rawConn struct {
	addr, host string
	c          net.Conn
	br         *bufio.Reader
	buf        []byte
	// secret returns device n's credential (DeviceSecret if nil).
	secret func(n int) string
	// dials counts the connections opened: one per worker when the
	// server keeps them alive.
	dials int
}

func newRawConn(base string) (*rawConn, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("load: -url must be http://host:port, got %q", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawConn{addr: addr, host: u.Host}, nil
}

func (r *rawConn) close() {
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
}

// checkIn sends device n's check-in and returns the status (0 on a
// transport error, returned too; the connection is then re-dialled next
// time).
func (r *rawConn) checkIn(ctx context.Context, n int) (int, error) {
	if r.c == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.addr)
		if err != nil {
			return 0, err
		}
		r.c, r.br = c, bufio.NewReaderSize(c, 16<<10)
		r.dials++
	}
	if dl, ok := ctx.Deadline(); ok {
		r.c.SetDeadline(dl)
	}
	b := r.buf[:0]
	b = append(b, "POST /v1/devices/"...)
	b = append(b, DeviceID(n)...)
	b = append(b, "/checkin HTTP/1.1\r\nHost: "...)
	b = append(b, r.host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	if r.secret != nil {
		b = append(b, r.secret(n)...)
	} else {
		b = append(b, DeviceSecret(n)...)
	}
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(checkInBody)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, checkInBody...)
	r.buf = b
	if _, err := r.c.Write(b); err != nil {
		r.close()
		return 0, err
	}
	code, err := readResponse(r.br)
	if err != nil {
		r.close() // code is 0 unless the server answered and closed
		if code != 0 {
			err = nil
		}
	}
	return code, err
}

var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one response and discards its body; a response that
// asks to close the connection is reported as an error after its status
// is known, so the caller re-dials.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, errMalformed
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, errMalformed
	}
	length, chunked, closing := int64(-1), false, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, errMalformed
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 {
				return 0, errMalformed
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closing = bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(h)), 16, 64)
			if err != nil || size < 0 {
				return 0, errMalformed
			}
			if _, err := br.Discard(int(size) + 2); err != nil {
				return 0, err
			}
			if size == 0 {
				break
			}
		}
	case length >= 0:
		if _, err := br.Discard(int(length)); err != nil {
			return 0, err
		}
	default:
		return code, io.ErrUnexpectedEOF // body until close: cannot reuse
	}
	if closing {
		return code, io.EOF
	}
	return code, nil
}
