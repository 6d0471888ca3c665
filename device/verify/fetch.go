package verify

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Fetcher fetches a metadata document. It must not read more than
// maxLength+1 bytes of it (io.LimitReader(body, maxLength+1)) and must return
// an error wrapping ErrTooLarge if there are more than maxLength, and one
// wrapping ErrNotFound for a missing document.
type Fetcher interface {
	Fetch(ctx context.Context, url string, maxLength int64) ([]byte, error)
}

// HTTPFetcher fetches over HTTP with Client (http.DefaultClient if nil).
type HTTPFetcher struct {
	Client *http.Client
}

// Fetch implements Fetcher.
func (f HTTPFetcher) Fetch(ctx context.Context, url string, maxLength int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("verify: fetch %s: %w", url, err)
	}
	c := f.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verify: fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("verify: fetch %s: %w", url, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("verify: fetch %s: status %s", url, resp.Status)
	case resp.ContentLength > maxLength:
		return nil, fail(ErrTooLarge, fmt.Sprintf("%s declares %d bytes, limit %d", url, resp.ContentLength, maxLength))
	}
	return readLimited(resp.Body, url, maxLength)
}

// readLimited reads at most maxLength bytes of r, failing with ErrTooLarge
// after reading maxLength+1.
func readLimited(r io.Reader, what string, maxLength int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxLength+1))
	if err != nil {
		return nil, fmt.Errorf("verify: read %s: %w", what, err)
	}
	if int64(len(data)) > maxLength {
		return nil, fail(ErrTooLarge, fmt.Sprintf("%s exceeds %d bytes", what, maxLength))
	}
	return data, nil
}
