package verify

import (
	"context"
	"fmt"
	"io"

	"github.com/sextant-ml/sextant/device/transport"
)

// Fetcher fetches a metadata document. It must not read more than
// maxLength+1 bytes of it (io.LimitReader(body, maxLength+1)) and must return
// an error wrapping ErrTooLarge if there are more than maxLength, and one
// wrapping ErrNotFound for a missing document.
type Fetcher interface {
	Fetch(ctx context.Context, url string, maxLength int64) ([]byte, error)
}

// TransportFetcher fetches metadata through the SDK's transport (the host's
// HTTP stack, or httptransport.New in a pure-Go program). The verifier does
// not import net/http; see package transport.
type TransportFetcher struct {
	Getter transport.Getter
	// Header is sent with every request (e.g. the device credential).
	Header map[string]string
}

// Fetch implements Fetcher.
func (f TransportFetcher) Fetch(ctx context.Context, url string, maxLength int64) ([]byte, error) {
	resp, err := f.Getter.Get(ctx, transport.Request{URL: url, Header: f.Header})
	if err != nil {
		return nil, fmt.Errorf("verify: fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.Status == transport.StatusNotFound || resp.Status == transport.StatusForbidden:
		return nil, fmt.Errorf("verify: fetch %s: %w", url, ErrNotFound)
	case resp.Status != transport.StatusOK:
		return nil, fmt.Errorf("verify: fetch %s: status %d", url, resp.Status)
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
