package httptransport

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/device/transport"
)

func TestRangeAndIfRange(t *testing.T) {
	content := bytes.Repeat([]byte("sextant "), 1000)
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" {
			http.Error(w, "missing header", http.StatusBadRequest)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "blob", mod, bytes.NewReader(content))
	}))
	defer srv.Close()
	g := New(srv.Client())
	ctx := context.Background()
	h := map[string]string{"X-Test": "yes"}
	read := func(r transport.Request) (*transport.Response, []byte) {
		t.Helper()
		resp, err := g.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := read(transport.Request{URL: srv.URL, Header: h})
	if resp.Status != transport.StatusOK || !bytes.Equal(b, content) || resp.ETag != `"v1"` || resp.ContentLength != int64(len(content)) {
		t.Fatalf("full GET: status %d, %d bytes, etag %q", resp.Status, len(b), resp.ETag)
	}
	resp, b = read(transport.Request{URL: srv.URL, Offset: 5000, IfRange: `"v1"`, Header: h})
	if resp.Status != transport.StatusPartialContent || !bytes.Equal(b, content[5000:]) || resp.ContentRange == "" {
		t.Fatalf("range GET: status %d, %d bytes, content-range %q", resp.Status, len(b), resp.ContentRange)
	}
	resp, b = read(transport.Request{URL: srv.URL, Offset: 5000, IfRange: `"v0"`, Header: h})
	if resp.Status != transport.StatusOK || len(b) != len(content) {
		t.Fatalf("stale If-Range: status %d, %d bytes; want the whole resource", resp.Status, len(b))
	}
}
