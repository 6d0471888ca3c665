package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/secagg"
)

// HTTP statuses of the server's federated-learning endpoints beyond those
// package transport names.
const (
	statusNoContent = 204
	statusConflict  = 409
	statusGone      = 410
)

// maxReply bounds a server answer the device reads: an assignment carries
// the global weights as JSON (≤ ~16 bytes a weight) and a secagg message at
// most secagg.MaxClients peers.
const maxReply = 16*(secagg.MaxDim+1) + 1<<20

// HTTPConn reaches a Sextant server's federated-learning endpoints
// (docs/api.md) through the host's network stack: a transport.Getter and
// transport.Poster, never net/http. Device is the enrolled device id and
// Credential its device credential; the server takes the device's identity
// from them, so the device argument of Status and CheckIn is ignored.
type HTTPConn struct {
	Base       string // e.g. https://sextant.example.com
	Device     string
	Credential string
	Get        transport.Getter
	Post       transport.Poster
}

var _ Conn = (*HTTPConn)(nil)

func (h *HTTPConn) url(task string, rest ...string) string {
	u := h.Base + "/v1/devices/" + url.PathEscape(h.Device) + "/fl/" + url.PathEscape(task)
	for _, r := range rest {
		u += "/" + r
	}
	return u
}

func (h *HTTPConn) header(seat *Seat) map[string]string {
	m := map[string]string{"Authorization": "Bearer " + h.Credential}
	if seat != nil {
		m["Sextant-FL-Seat"] = strconv.FormatUint(seat.Attempt, 10) + "/" + strconv.FormatUint(uint64(seat.ID), 10) + "/" + seat.Token
	}
	return m
}

// read maps a response to its body or the protocol's errors.
func read(resp *transport.Response, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxReply {
		return nil, fmt.Errorf("fl: server answer over %d bytes", maxReply)
	}
	switch resp.Status {
	case transport.StatusOK:
		return b, nil
	case statusNoContent:
		return nil, ErrNotYet
	case statusGone:
		return nil, ErrRoundOver
	case statusConflict:
		return nil, fmt.Errorf("%w: %s", ErrNotSelected, bytes.TrimSpace(b))
	}
	return nil, fmt.Errorf("fl: server answered %d: %s", resp.Status, bytes.TrimSpace(b[:min(len(b), 512)]))
}

func (h *HTTPConn) post(ctx context.Context, u string, seat *Seat, ctype string, body []byte) ([]byte, error) {
	return read(h.Post.Post(ctx, transport.Request{URL: u, Header: h.header(seat)}, ctype, body))
}

func decode[T any](b []byte, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("fl: server answer: %w", err)
	}
	return v, nil
}

// Status implements Conn.
func (h *HTTPConn) Status(ctx context.Context, task, _ string) (*Status, error) {
	return decode[Status](read(h.Get.Get(ctx, transport.Request{URL: h.url(task), Header: h.header(nil)})))
}

// CheckIn implements Conn.
func (h *HTTPConn) CheckIn(ctx context.Context, task string, attempt uint64, _ string) (*Seat, error) {
	body, _ := json.Marshal(map[string]uint64{"attempt": attempt})
	return decode[Seat](h.post(ctx, h.url(task, "checkin"), nil, "application/json", body))
}

// Configure implements Conn.
func (h *HTTPConn) Configure(ctx context.Context, task string, seat *Seat) (*Assignment, error) {
	return decode[Assignment](h.post(ctx, h.url(task, "configure"), seat, "application/json", nil))
}

// Send implements Conn.
func (h *HTTPConn) Send(ctx context.Context, task string, seat *Seat, msg []byte) error {
	_, err := h.post(ctx, h.url(task, "messages"), seat, "application/octet-stream", msg)
	if errors.Is(err, ErrNotYet) { // 204: accepted
		return nil
	}
	return err
}

// Next implements Conn.
func (h *HTTPConn) Next(ctx context.Context, task string, seat *Seat, step secagg.Step) ([]byte, error) {
	return read(h.Get.Get(ctx, transport.Request{URL: h.url(task, "messages", strconv.Itoa(int(step))), Header: h.header(seat)}))
}

// ReportPlain implements Conn: refused, a device never sends its update in
// the clear over the network.
func (h *HTTPConn) ReportPlain(context.Context, string, *Seat, []float32) error {
	return ErrPlaintext
}

// Leave implements Conn.
func (h *HTTPConn) Leave(ctx context.Context, task string, seat *Seat) error {
	_, err := h.post(ctx, h.url(task, "leave"), seat, "application/json", nil)
	if errors.Is(err, ErrNotYet) || errors.Is(err, ErrRoundOver) {
		return nil
	}
	return err
}
