package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/secagg"
)

// canned answers every request with one status and body, and records it.
type canned struct {
	status int
	body   []byte
	req    transport.Request
}

func (c *canned) resp() *transport.Response {
	return &transport.Response{Status: c.status, ContentLength: int64(len(c.body)), Body: io.NopCloser(bytes.NewReader(c.body))}
}

func (c *canned) Get(_ context.Context, r transport.Request) (*transport.Response, error) {
	c.req = r
	return c.resp(), nil
}

func (c *canned) Post(_ context.Context, r transport.Request, _ string, _ []byte) (*transport.Response, error) {
	c.req = r
	return c.resp(), nil
}

func TestHTTPConnMapsStatuses(t *testing.T) {
	ctx := context.Background()
	seat := &Seat{Attempt: 3, ID: 7, Token: "abc"}
	for _, c := range []struct {
		status int
		want   error
	}{{204, ErrNotYet}, {410, ErrRoundOver}, {409, ErrNotSelected}} {
		tr := &canned{status: c.status}
		h := &HTTPConn{Base: "https://s.example", Device: "dev 1", Credential: "cred", Get: tr, Post: tr}
		if _, err := h.Next(ctx, "task", seat, secagg.StepMaskedInput); !errors.Is(err, c.want) {
			t.Errorf("status %d: %v, want %v", c.status, err, c.want)
		}
	}
	tr := &canned{status: 200, body: []byte(`{"attempt":3,"id":7,"token":"abc"}`)}
	h := &HTTPConn{Base: "https://s.example", Device: "dev 1", Credential: "cred", Get: tr, Post: tr}
	got, err := h.CheckIn(ctx, "next-dest", 3, "ignored")
	if err != nil || *got != *seat {
		t.Fatalf("check-in: %+v, %v", got, err)
	}
	if tr.req.URL != "https://s.example/v1/devices/dev%201/fl/next-dest/checkin" || tr.req.Header["Authorization"] != "Bearer cred" {
		t.Errorf("request %+v", tr.req)
	}
	if _, err := h.Next(ctx, "t", seat, secagg.StepUnmask); err != nil || tr.req.Header["Sextant-FL-Seat"] != "3/7/abc" || tr.req.URL != "https://s.example/v1/devices/dev%201/fl/t/messages/4" {
		t.Errorf("next: %v, request %+v", err, tr.req)
	}
	if err := h.ReportPlain(ctx, "t", seat, []float32{1}); !errors.Is(err, ErrPlaintext) {
		t.Errorf("plaintext over the network: %v", err)
	}
	tr.status, tr.body = 500, []byte("boom")
	if _, err := h.Status(ctx, "t", ""); err == nil {
		t.Error("a 500 was not an error")
	}
}
