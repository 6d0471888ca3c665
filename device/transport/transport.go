// Package transport is the device SDK's one network contract: an HTTP GET of
// a URL, optionally of a byte range. The SDK never imports net/http itself —
// Go's HTTP and TLS stack alone is about 2.3 MB of a stripped android/arm64
// build, and a phone app already has a network stack (URLSession, OkHttp)
// that knows the device's proxies, certificates and radio policy. A host
// passes its own Getter through the C ABI; a pure-Go program links
// transport/httptransport.
package transport

import (
	"context"
	"io"
)

// HTTP status codes the SDK interprets (RFC 9110).
const (
	StatusOK                  = 200
	StatusPartialContent      = 206
	StatusNotModified         = 304
	StatusForbidden           = 403
	StatusNotFound            = 404
	StatusRangeNotSatisfiable = 416
	StatusTooManyRequests     = 429
)

// Request is one GET.
type Request struct {
	URL string
	// Offset, when positive, asks for the bytes from Offset to the end
	// (Range: bytes=Offset-).
	Offset int64
	// IfRange, when set with Offset, makes the range conditional on this
	// entity tag (If-Range), so a changed resource comes back whole (200).
	IfRange string
	// Header holds further request headers (e.g. Authorization).
	Header map[string]string
}

// Response is a GET's answer. The caller closes Body.
type Response struct {
	Status int
	// ETag and ContentRange are the response headers of those names.
	ETag, ContentRange string
	// ContentLength is the declared body length, -1 when unknown.
	ContentLength int64
	Body          io.ReadCloser
}

// Getter performs GETs. Implementations must honour ctx and must not follow
// redirects to non-HTTPS URLs when the original was HTTPS.
type Getter interface {
	Get(ctx context.Context, req Request) (*Response, error)
}

// Poster sends a POST with a small body (a device's check-in manifest). A
// host's network stack implements it beside Getter; the SDK asks for it only
// where it sends something.
type Poster interface {
	// Post sends body to req.URL with req.Header (Offset and IfRange are
	// ignored). contentType is the body's media type.
	Post(ctx context.Context, req Request, contentType string, body []byte) (*Response, error)
}
