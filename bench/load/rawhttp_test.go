package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	for in, want := range map[string]int{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":                              200,
		"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n":                 429,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n":   200,
		"HTTP/1.1 503 Unavailable\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx": 503,
	} {
		br := bufio.NewReader(strings.NewReader(in + "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"))
		code, _ := readResponse(br)
		if code != want {
			t.Errorf("%q: %d, want %d", in, code, want)
		}
		if strings.Contains(in, "close") {
			continue
		}
		// The body was consumed exactly: the next response parses.
		if code, err := readResponse(br); code != 204 || err != nil {
			t.Errorf("%q: next response %d %v", in, code, err)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 2x0 OK\r\n\r\n", "SSH-2.0\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"} {
		if _, err := readResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzReadResponse: any bytes from the server parse or fail; never panic
// or loop.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(strings.NewReader(string(b)))
		for range 4 {
			if _, err := readResponse(br); err != nil {
				return
			}
		}
	})
}
