// Package httptransport implements the device SDK's transport.Getter with
// net/http, for pure-Go programs (tests, the fleet simulator, a Go host).
// Phone apps usually pass their platform's HTTP stack instead, which keeps
// net/http and crypto/tls out of the build (see package transport).
package httptransport

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sextant-ml/sextant/device/transport"
)

// Getter performs GETs with Client (http.DefaultClient when nil).
type Getter struct {
	Client *http.Client
}

// New returns a Getter using c (nil means http.DefaultClient).
func New(c *http.Client) Getter { return Getter{Client: c} }

// Get implements transport.Getter.
func (g Getter) Get(ctx context.Context, r transport.Request) (*transport.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("httptransport: %w", err)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	if r.Offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.Offset, 10)+"-")
		if r.IfRange != "" {
			req.Header.Set("If-Range", r.IfRange)
		}
	}
	return g.do(req)
}

// Post implements transport.Poster.
func (g Getter) Post(ctx context.Context, r transport.Request, contentType string, body []byte) (*transport.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("httptransport: %w", err)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", contentType)
	return g.do(req)
}

func (g Getter) do(req *http.Request) (*transport.Response, error) {
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	return &transport.Response{
		Status:        resp.StatusCode,
		ETag:          resp.Header.Get("ETag"),
		ContentRange:  resp.Header.Get("Content-Range"),
		ContentLength: resp.ContentLength,
		Body:          resp.Body,
	}, nil
}
