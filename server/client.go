package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// Client calls the server's API with a bearer secret: an admin token, an
// enrollment token, or a device credential. Errors the server answers are
// *APIError, which unwraps to the domain error (delivery.FromCode), so
// errors.Is(err, delivery.ErrVersionNotIncreasing) works across the wire.
type Client struct {
	// BaseURL is the server's URL, e.g. "https://sextant.example".
	BaseURL string
	// Token is the bearer secret sent with every call.
	Token string
	// HTTP is the client to use (http.DefaultClient if nil).
	HTTP *http.Client
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Code    string
	Message string
	err     error
}

func (e *APIError) Error() string { return e.Message }

// Unwrap returns the domain error the code names.
func (e *APIError) Unwrap() error { return e.err }

// maxAnswer bounds a JSON answer the client reads.
const maxAnswer = 64 << 20

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr http.Header, length int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("server client: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if length > 0 {
		req.ContentLength = length
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("server client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("server client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
			return &APIError{Status: resp.StatusCode, Code: "internal", Message: resp.Status, err: errors.New(resp.Status)}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Code, Message: eb.Message, err: delivery.FromCode(eb.Code, eb.Message)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("server client: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	hdr := http.Header{}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("server client: %w", err)
		}
		body = bytes.NewReader(b)
		hdr.Set("Content-Type", "application/json")
	}
	return c.do(ctx, method, path, body, hdr, 0, out)
}

// Publish uploads a bundle of length bytes with SHA-256 sum, streaming r.
// model must be the name in the bundle's manifest.
func (c *Client) Publish(ctx context.Context, model string, r io.Reader, length int64, sum [32]byte, notes string) (Published, error) {
	hdr := http.Header{}
	hdr.Set("Content-Type", delivery.MediaBundle)
	hdr.Set("Content-Digest", ContentDigest(sum))
	p := "/v1/admin/models/" + url.PathEscape(model) + "/versions"
	if notes != "" {
		p += "?notes=" + url.QueryEscape(notes)
	}
	var out Published
	err := c.do(ctx, http.MethodPost, p, r, hdr, length, &out)
	return out, err
}

// Metadata returns the image repository's latest documents by role.
func (c *Client) Metadata(ctx context.Context) (map[string][]byte, error) {
	var out MetadataResponse
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/metadata", nil, &out)
	return out.Files, err
}

// UploadMetadata sends documents signed offline.
func (c *Client) UploadMetadata(ctx context.Context, files []signing.File) (UploadResponse, error) {
	req := UploadRequest{Files: make([]UploadFile, len(files))}
	for i, f := range files {
		role := f.Role
		if strings.HasPrefix(f.Path, "director/") {
			role = "director-root"
		}
		req.Files[i] = UploadFile{Role: role, Data: f.Data}
	}
	var out UploadResponse
	err := c.doJSON(ctx, http.MethodPost, "/v1/admin/metadata", req, &out)
	return out, err
}

// SignAndUpload lists a published bundle in the image repository: it
// fetches the server's targets metadata, checks it against trustedRoot (the
// image root the operator's key directory holds), signs the model's
// delegation with the offline targets keys, and uploads the result. It
// returns the files it signed.
func (c *Client) SignAndUpload(ctx context.Context, trustedRoot []byte, t BundleTarget, targetsKeys []*signing.Key, now time.Time) ([]signing.File, error) {
	remote, err := c.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	latest := map[string][]byte{"root": trustedRoot}
	for role, data := range remote {
		if role == "targets" || strings.HasPrefix(role, "targets/") {
			latest[role] = data
		}
	}
	repo, err := signing.Open(signing.Config{}, latest)
	if err != nil {
		return nil, fmt.Errorf("the server's targets metadata does not verify under the local root: %w", err)
	}
	sum, err := hex.DecodeString(t.SHA256)
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("server client: malformed sha256 %q", t.SHA256)
	}
	b := signing.Bundle{Model: t.Model, Version: t.Version, Length: t.Length,
		MinRuntimeVersion: t.MinRuntimeVersion, Ops: t.Ops}
	copy(b.SHA256[:], sum)
	files, err := repo.AddBundle(now, b, targetsKeys)
	if err != nil {
		return nil, err
	}
	if _, err := c.UploadMetadata(ctx, files); err != nil {
		return nil, err
	}
	return files, nil
}

// ListModels lists the registry's models.
func (c *Client) ListModels(ctx context.Context) ([]delivery.Model, error) {
	var out struct {
		Models []delivery.Model `json:"models"`
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/models", nil, &out)
	return out.Models, err
}

// Model returns a model and its versions.
func (c *Client) Model(ctx context.Context, name string) (ModelDetail, error) {
	var out ModelDetail
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/models/"+url.PathEscape(name), nil, &out)
	return out, err
}

// Version returns a version, its artifacts and whether it is signed.
func (c *Client) Version(ctx context.Context, name, version string) (VersionDetail, error) {
	var out VersionDetail
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/models/"+url.PathEscape(name)+"/versions/"+url.PathEscape(version), nil, &out)
	return out, err
}

// Lineage returns a version and its ancestors, newest first.
func (c *Client) Lineage(ctx context.Context, name, version string) ([]delivery.Version, error) {
	var out struct {
		Lineage []delivery.Version `json:"lineage"`
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/models/"+url.PathEscape(name)+"/versions/"+url.PathEscape(version)+"/lineage", nil, &out)
	return out.Lineage, err
}

// SetCurrent makes version the model's current version.
func (c *Client) SetCurrent(ctx context.Context, name, version string) (delivery.Model, error) {
	var out delivery.Model
	err := c.doJSON(ctx, http.MethodPut, "/v1/admin/models/"+url.PathEscape(name)+"/current", SetCurrentRequest{Version: version}, &out)
	return out, err
}

// Audit lists audit events, newest first.
func (c *Client) Audit(ctx context.Context, q delivery.AuditQuery) ([]delivery.AuditEvent, error) {
	v := url.Values{}
	if q.Who != "" {
		v.Set("who", q.Who)
	}
	if q.What != "" {
		v.Set("what", q.What)
	}
	if q.Before > 0 {
		v.Set("before", fmt.Sprint(q.Before))
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	var out struct {
		Events []delivery.AuditEvent `json:"events"`
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/admin/audit?"+v.Encode(), nil, &out)
	return out.Events, err
}

// Register enrols a device (Token must be an enrollment token).
func (c *Client) Register(ctx context.Context, info DeviceInfo) (Registration, error) {
	var out Registration
	err := c.doJSON(ctx, http.MethodPost, "/v1/devices", info, &out)
	return out, err
}

// CheckIn checks a device in (Token must be its credential).
func (c *Client) CheckIn(ctx context.Context, device string, ci CheckIn) (CheckInResponse, error) {
	var out CheckInResponse
	err := c.doJSON(ctx, http.MethodPost, "/v1/devices/"+url.PathEscape(device)+"/checkin", ci, &out)
	return out, err
}
