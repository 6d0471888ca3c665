package main

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/sextant-ml/sextant/device/transport"
)

// hostGetter stands in for the host app's HTTP stack (URLSession, OkHttp),
// which a phone build passes to the SDK instead of linking net/http: here it
// serves file:// URLs.
type hostGetter struct{}

func (hostGetter) Get(ctx context.Context, r transport.Request) (*transport.Response, error) {
	f, err := os.Open(strings.TrimPrefix(r.URL, "file://"))
	if err != nil {
		return &transport.Response{Status: transport.StatusNotFound, ContentLength: 0, Body: io.NopCloser(strings.NewReader(""))}, nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	status := transport.StatusOK
	if r.Offset > 0 {
		if _, err := f.Seek(r.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		status = transport.StatusPartialContent
	}
	return &transport.Response{Status: status, ContentLength: fi.Size() - r.Offset, Body: f}, nil
}

// Post answers that the network is unavailable: the probe has no server.
func (hostGetter) Post(ctx context.Context, r transport.Request, contentType string, body []byte) (*transport.Response, error) {
	return &transport.Response{Status: 503, ContentLength: 0, Body: io.NopCloser(strings.NewReader(""))}, nil
}
