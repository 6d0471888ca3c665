package updater

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/transport"
	"github.com/sextant-ml/sextant/device/verify"
)

// UptaneConfig configures the Verifier that talks to a Sextant server (see
// package server: check-in, the director and the image repository).
type UptaneConfig struct {
	// ServerURL is the server's base URL, e.g. "https://models.example.com".
	ServerURL string
	// DeviceID and Credential are the device's enrolment answer; the
	// credential is sent as a bearer token with every device call.
	DeviceID, Credential string
	// ImageRoot and DirectorRoot are the trusted roots shipped with the app.
	ImageRoot, DirectorRoot []byte
	// Store keeps the trusted metadata between check-ins (a verify.DirStore
	// on a phone), so version floors survive restarts (required).
	Store verify.Store
	// Transport fetches metadata and must also implement transport.Poster
	// for the check-in (httptransport.Getter does).
	Transport transport.Getter
	// Clock checks metadata expiry; nil means clock.Real.
	Clock clock.Clock
	// Limits bound every metadata fetch; zero fields take verify's defaults.
	Limits verify.Limits
}

// Server routes the verifier uses when a check-in answer names none (they
// mirror package server's endpoints).
const (
	defaultImagePath    = "/v1/image"
	defaultDirectorPath = "/v1/director"
	defaultBlobPath     = "/v1/blobs/sha256/"
	// maxCheckInResponse bounds the check-in answer read into memory.
	maxCheckInResponse = 1 << 20
)

// UptaneVerifier is a Verifier over a Sextant server: it checks in with the
// device manifest, then runs the Uptane check of package verify on the
// director's document for this device and the image repository, and
// returns the targets both agree on. The check-in's own list of targets is
// ignored: only signed metadata is trusted. It keeps one verify.Client
// across check-ins, so a check-in that finds nothing new does not parse or
// verify again what the last one verified. Its Targets must not be called
// concurrently (an Updater calls it from CheckIn).
type UptaneVerifier struct {
	cfg    UptaneConfig
	base   string
	poster transport.Poster
	header map[string]string
	clk    clock.Clock
	// blobPath is the blob route the last check-in named.
	blobPath string
	// client is the metadata client of the last check-in, kept while the
	// check-in answers name the same repositories, so that it remembers
	// what it verified (a check-in that finds nothing new is cheap).
	client                *verify.Client
	imageURL, directorURL string
}

// NewUptaneVerifier returns a Verifier for cfg.
func NewUptaneVerifier(cfg UptaneConfig) (*UptaneVerifier, error) {
	if cfg.ServerURL == "" || cfg.DeviceID == "" || cfg.Credential == "" {
		return nil, errors.New("updater: uptane verifier needs the server URL, the device ID and its credential")
	}
	if len(cfg.ImageRoot) == 0 || len(cfg.DirectorRoot) == 0 || cfg.Store == nil || cfg.Transport == nil {
		return nil, errors.New("updater: uptane verifier needs both trusted roots, a Store and a Transport")
	}
	p, ok := cfg.Transport.(transport.Poster)
	if !ok {
		return nil, fmt.Errorf("updater: transport %T cannot POST the check-in (implement transport.Poster)", cfg.Transport)
	}
	v := &UptaneVerifier{cfg: cfg, base: strings.TrimSuffix(cfg.ServerURL, "/"), poster: p,
		header: map[string]string{"Authorization": "Bearer " + cfg.Credential}, clk: cfg.Clock, blobPath: defaultBlobPath}
	if v.clk == nil {
		v.clk = clock.Real
	}
	return v, nil
}

// BlobURL maps a bundle's hex SHA-256 to its content address on the server,
// for Config.BlobURL.
func (v *UptaneVerifier) BlobURL(sha256 string) string { return v.base + v.blobPath + sha256 }

// Header returns the request headers of device calls (the credential), for
// transports that fetch blobs from an authenticated route.
func (v *UptaneVerifier) Header() map[string]string { return v.header }

// checkInAnswer is the part of the server's check-in answer the device
// uses: where the repositories are. Its JSON matches server.CheckInResponse.
type checkInAnswer struct {
	ImageURL    string `json:"image_url"`
	DirectorURL string `json:"director_url"`
	BlobURL     string `json:"blob_url"`
	// Targets carry the deltas offered for each assigned version. They
	// are not signed: a delta is taken only when shorter than the signed
	// target, its output is verified against the target, and a failed
	// delta falls back to the whole bundle.
	Targets []struct {
		Model   string `json:"model"`
		Version string `json:"version"`
		Deltas  []struct {
			From   string `json:"from"`
			SHA256 string `json:"sha256"`
			Length int64  `json:"length"`
		} `json:"deltas"`
	} `json:"targets"`
}

// Targets implements Verifier. Errors: *NetworkError for a failed check-in
// or metadata fetch, ErrExpired (wrapping verify.ErrExpired) for expired
// metadata, *VerificationError for any other failed check.
func (v *UptaneVerifier) Targets(ctx context.Context, m *Manifest) ([]Target, error) {
	ans, err := v.checkIn(ctx, m)
	if err != nil {
		return nil, err
	}
	c, err := v.metadataClient(v.resolve(ans.ImageURL, defaultImagePath), v.resolve(ans.DirectorURL, defaultDirectorPath))
	if err != nil {
		return nil, err
	}
	res, err := c.Update(ctx)
	if err != nil {
		return nil, metadataError(err)
	}
	out := make([]Target, 0, len(res.Targets))
	for _, t := range res.Targets {
		out = append(out, withDeltas(convertTarget(t), &ans))
	}
	return out, nil
}

// metadataClient returns the metadata client for these repositories: the
// last one when they are the same, else a new one.
func (v *UptaneVerifier) metadataClient(imageURL, directorURL string) (*verify.Client, error) {
	if v.client != nil && v.imageURL == imageURL && v.directorURL == directorURL {
		return v.client, nil
	}
	c, err := verify.New(verify.Config{
		ImageURL: imageURL, DirectorURL: directorURL,
		Device: v.cfg.DeviceID, ImageRoot: v.cfg.ImageRoot, DirectorRoot: v.cfg.DirectorRoot, Limits: v.cfg.Limits,
	}, verify.TransportFetcher{Getter: v.cfg.Transport, Header: v.header}, v.cfg.Store, v.clk)
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	v.client, v.imageURL, v.directorURL = c, imageURL, directorURL
	return c, nil
}

// checkIn posts the manifest and returns the server's answer.
func (v *UptaneVerifier) checkIn(ctx context.Context, m *Manifest) (checkInAnswer, error) {
	var ans checkInAnswer
	u := v.base + "/v1/devices/" + url.PathEscape(v.cfg.DeviceID) + "/checkin"
	body, err := json.Marshal(m)
	if err != nil {
		return ans, fmt.Errorf("updater: encode manifest: %w", err)
	}
	resp, err := v.poster.Post(ctx, transport.Request{URL: u, Header: v.header}, "application/json", body)
	if err != nil {
		if ctx.Err() != nil {
			return ans, ctx.Err()
		}
		return ans, &NetworkError{URL: u, Err: err}
	}
	defer resp.Body.Close()
	if resp.Status != transport.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return ans, &NetworkError{URL: u, Status: resp.Status}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckInResponse+1))
	switch {
	case err != nil:
		return ans, &NetworkError{URL: u, Err: err}
	case len(data) > maxCheckInResponse:
		return ans, &NetworkError{URL: u, Err: fmt.Errorf("check-in answer exceeds %d bytes", maxCheckInResponse)}
	}
	m.Health = nil // the server has the report: never send it twice
	if err := json.Unmarshal(data, &ans); err != nil {
		return ans, &NetworkError{URL: u, Err: fmt.Errorf("check-in answer: %w", err)}
	}
	if ans.BlobURL != "" && strings.HasPrefix(ans.BlobURL, "/") {
		v.blobPath = ans.BlobURL
	}
	return ans, nil
}

// resolve makes a server-relative route absolute; only routes on the
// server itself are followed (an absolute URL in the answer is ignored, so
// a check-in cannot point the device elsewhere — the metadata would be
// verified anyway, but the credential would leak).
func (v *UptaneVerifier) resolve(route, def string) string {
	if route == "" || !strings.HasPrefix(route, "/") || strings.HasPrefix(route, "//") {
		route = def
	}
	return v.base + route
}

// metadataError maps verify's errors onto the updater's: expired metadata
// onto ErrExpired, other failed checks onto *VerificationError, and the
// rest (fetches that failed, missing documents) onto *NetworkError.
func metadataError(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, verify.ErrExpired):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, verify.ErrVerification):
		return &VerificationError{Reason: "signed metadata", Err: err}
	}
	return &NetworkError{URL: "metadata", Err: err}
}

// convertTarget turns a verified bundle into an updater Target. The model
// name falls back to the target path's directory ("<model>/<version>.sxm").
func convertTarget(t verify.Target) Target {
	name, version := t.Model, t.Version
	if name == "" {
		name = path.Dir(t.Path)
	}
	if version == "" {
		version = strings.TrimSuffix(path.Base(t.Path), ".sxm")
	}
	return Target{Name: name, Version: version, Length: t.Length, SHA256: hex.EncodeToString(t.SHA256[:]),
		MinRuntimeVersion: t.MinRuntimeVersion, Ops: append([]string(nil), t.Ops...)}
}

// withDeltas attaches the deltas the check-in answer offers for t's model
// and version (well-formed ones only).
func withDeltas(t Target, ans *checkInAnswer) Target {
	for _, a := range ans.Targets {
		if a.Model != t.Name || a.Version != t.Version {
			continue
		}
		for _, d := range a.Deltas {
			if h, err := hex.DecodeString(d.SHA256); err == nil && len(h) == 32 && d.Length > 0 && d.From != "" {
				t.Deltas = append(t.Deltas, Delta{From: d.From, Length: d.Length, SHA256: d.SHA256})
			}
		}
	}
	return t
}
