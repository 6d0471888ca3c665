package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	dhealth "github.com/sextant-ml/sextant/device/health"
)

// Bounds on what a device may send.
const (
	maxOps        = 2048
	maxCustom     = 64
	maxFieldBytes = 256
	maxInstalled  = 256
)

// DeviceInfo is what a device says about itself (the targeting attributes).
// Its JSON matches device/updater's Device.
type DeviceInfo struct {
	Class      string            `json:"device_class,omitempty"`
	OS         string            `json:"os,omitempty"`
	AppVersion string            `json:"app_version,omitempty"`
	Region     string            `json:"region,omitempty"`
	Locale     string            `json:"locale,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

func (d DeviceInfo) check() error {
	for _, f := range []string{d.Class, d.OS, d.AppVersion, d.Region, d.Locale} {
		if len(f) > maxFieldBytes {
			return delivery.Errorf(delivery.ErrInvalid, "a device field exceeds %d bytes", maxFieldBytes)
		}
	}
	if len(d.Attributes) > maxCustom {
		return delivery.Errorf(delivery.ErrInvalid, "more than %d custom attributes", maxCustom)
	}
	for k, v := range d.Attributes {
		if len(k) > maxFieldBytes || len(v) > maxFieldBytes {
			return delivery.Errorf(delivery.ErrInvalid, "a custom attribute exceeds %d bytes", maxFieldBytes)
		}
	}
	return nil
}

func (d DeviceInfo) attributes() delivery.Attributes {
	a := delivery.Attributes{Class: d.Class, OS: d.OS, AppVersion: d.AppVersion, Region: d.Region, Locale: d.Locale}
	if len(d.Attributes) > 0 {
		a.Custom = d.Attributes
	}
	return a
}

// Registration is the answer to POST /v1/devices.
type Registration struct {
	// ID is the device's identifier; Credential its bearer secret, shown
	// only now.
	ID         string `json:"id"`
	Credential string `json:"credential"`
	Endpoints
}

// Endpoints are the base paths a device fetches from, relative to the
// server's URL.
type Endpoints struct {
	ImageURL    string `json:"image_url"`
	DirectorURL string `json:"director_url"`
	BlobURL     string `json:"blob_url"`
}

var endpoints = Endpoints{ImageURL: "/v1/image", DirectorURL: "/v1/director", BlobURL: "/v1/blobs/sha256/"}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) registerDevice(w http.ResponseWriter, r *http.Request, _ delivery.Token) error {
	var info DeviceInfo
	if r.ContentLength != 0 {
		if err := readJSON(w, r, maxJSONBody, &info); err != nil {
			return err
		}
	}
	if err := info.check(); err != nil {
		return err
	}
	var idb, nonce [16]byte
	rand.Read(idb[:])
	rand.Read(nonce[:])
	id := "d" + hex.EncodeToString(idb[:])
	// The credential proves itself (signing.DeviceCredentials), so the
	// device's first check-in on any replica needs no database lookup.
	// Its row is still written before the answer: a registration the
	// device was told of is never lost, and a server without this
	// director key finds the device by the credential's hash.
	cred, err := s.sign.Director().Credentials().Mint(id, nonce)
	if err != nil {
		return err
	}
	d, err := s.store.RegisterDevice(r.Context(), delivery.Device{
		ID: id, CredentialHash: delivery.HashSecret(cred), Attributes: info.attributes(),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, Registration{ID: d.ID, Credential: cred, Endpoints: endpoints})
	return nil
}

// CheckIn is a device's check-in: what it runs and can run. Its JSON
// matches device/updater's Manifest.
type CheckIn struct {
	// Installed maps each model to the version the device runs.
	Installed map[string]string `json:"installed,omitempty"`
	// RuntimeVersion and Ops say what bundles the device can run; an
	// empty Ops list is "not reported" and skips the ops check.
	RuntimeVersion string   `json:"runtime_version"`
	Ops            []string `json:"ops,omitempty"`
	DeviceInfo
	// Health is the device's health since its last check-in (health.go);
	// it adds no identifier to what the check-in carries.
	Health *dhealth.Report `json:"health,omitempty"`
}

// Assigned is a bundle the director assigns to the device.
type Assigned struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	Length  int64  `json:"length"`
	// URL is the blob's path on this server.
	URL string `json:"url"`
	// Deltas rebuild this version from the one the device has installed.
	Deltas []AssignedDelta `json:"deltas,omitempty"`
}

// Withheld is a model's current version the device cannot run.
type Withheld struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Reason  string `json:"reason"`
}

// CheckInResponse says where the device's signed director document is and
// what it assigns (the device trusts only the signed document).
type CheckInResponse struct {
	Director DirectorRef `json:"director"`
	Targets  []Assigned  `json:"targets"`
	Withheld []Withheld  `json:"withheld,omitempty"`
	// NextCheckInSeconds is the advised wait before the next check-in.
	NextCheckInSeconds int64 `json:"next_check_in_seconds"`
	Endpoints
}

// DirectorRef names a device's current director document.
type DirectorRef struct {
	URL     string    `json:"url"`
	ETag    string    `json:"etag"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

func (c *CheckIn) check() error {
	if err := c.DeviceInfo.check(); err != nil {
		return err
	}
	if len(c.Ops) > maxOps || len(c.Installed) > maxInstalled {
		return delivery.Errorf(delivery.ErrInvalid, "too many ops or installed models")
	}
	if c.RuntimeVersion != "" {
		if _, err := bundle.ParseVersion(c.RuntimeVersion); err != nil {
			return delivery.Errorf(delivery.ErrInvalid, "runtime_version is not semver")
		}
	}
	return nil
}

func (s *Server) checkIn(w http.ResponseWriter, r *http.Request, d *cachedDevice) error {
	var ci CheckIn
	if err := readJSON(w, r, maxJSONBody, &ci); err != nil {
		return err
	}
	if err := ci.check(); err != nil {
		return err
	}
	if err := s.stamp(r.Context(), d, ci.attributes()); err != nil {
		return err
	}
	s.ingestHealth(r.Context(), d.id, ci.Health)
	s.fleet.observe(d.id, ci.Installed) // fleet.go
	cur, err := s.currents.get(r.Context())
	if err != nil {
		return err
	}
	resp := CheckInResponse{Endpoints: endpoints, NextCheckInSeconds: int64(s.cfg.CheckInInterval / time.Second), Targets: []Assigned{}}
	var a signing.Assignment
	a.Device = d.id
	attrs := ci.attributes()
	for _, c := range cur {
		if c, err = s.assign(r.Context(), c, attrs, d.id); err != nil { // rollouts.go
			return err
		}
		if why := c.incompatible(&ci); why != "" {
			resp.Withheld = append(resp.Withheld, Withheld{Model: c.bundle.Model, Version: c.bundle.Version, Reason: why})
			continue
		}
		if !s.sign.Listed(c.bundle.Model, c.bundle.Version) {
			// Published but not (yet) signed: devices would refuse it.
			continue
		}
		a.Bundles = append(a.Bundles, c.bundle)
		sum := hex.EncodeToString(c.bundle.SHA256[:])
		resp.Targets = append(resp.Targets, Assigned{Model: c.bundle.Model, Version: c.bundle.Version,
			SHA256: sum, Length: c.bundle.Length, URL: endpoints.BlobURL + sum,
			Deltas: c.offerDeltas(ci.Installed[c.bundle.Model], endpoints.BlobURL)})
	}
	doc, err := s.sign.Director().Document(a)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.assignment = a
	d.mu.Unlock()
	resp.Director = DirectorRef{URL: endpoints.DirectorURL + "/" + signing.DirectorTargetsPath(d.id),
		ETag: docETag(doc), Version: doc.Version, Expires: doc.Expires}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func docETag(doc signing.Document) string { return `"` + strconv.FormatInt(doc.Version, 10) + `"` }

// stamp records a check-in in the store only when the device's attributes
// changed or its last recorded check-in is older than StampInterval: the
// hot path of an unchanged device writes nothing.
func (s *Server) stamp(ctx context.Context, d *cachedDevice, attrs delivery.Attributes) error {
	b, _ := json.Marshal(attrs)
	now := s.clk.Now()
	d.mu.Lock()
	same := d.attrs == string(b) && now.Sub(d.stamped) < s.cfg.StampInterval
	d.mu.Unlock()
	if same {
		return nil
	}
	if _, ok := s.store.(batchStamper); ok && s.cfg.StampBatch > 0 {
		// Recorded by the next flush (stamps.go); until then this replica
		// treats the device as stamped.
		d.mu.Lock()
		d.attrs, d.stamped = string(b), now
		d.mu.Unlock()
		s.queueStamp(d, attrs)
		return nil
	}
	dev, err := s.store.CheckIn(ctx, d.id, attrs)
	if errors.Is(err, delivery.ErrNotFound) && d.verified {
		// A device whose credential proves it but whose row is missing
		// (a lost write, an enrolment by credential alone): register it.
		if _, err = s.store.RegisterDevice(ctx, delivery.Device{ID: d.id, CredentialHash: d.hash, Attributes: attrs}); err == nil || errors.Is(err, delivery.ErrConflict) {
			dev, err = s.store.CheckIn(ctx, d.id, attrs)
		}
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.attrs, d.stamped = string(b), dev.LastCheckIn
	d.mu.Unlock()
	return nil
}

func (s *Server) directorTargets(w http.ResponseWriter, r *http.Request, d *cachedDevice) error {
	d.mu.Lock()
	a, ok := d.assignment, d.assignment.Device != ""
	d.mu.Unlock()
	if !ok {
		return delivery.Errorf(delivery.ErrNotFound, "no director document: check in first")
	}
	doc, err := s.sign.Director().Document(a)
	if err != nil {
		return err
	}
	serveBytes(w, r, doc.Data, docETag(doc), "private, max-age=60")
	return nil
}

// serveBytes serves a document with its ETag (If-None-Match, Range) and
// cache policy.
func serveBytes(w http.ResponseWriter, r *http.Request, data []byte, etag, cacheControl string) {
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", cacheControl)
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// incompatible says why a device cannot run the bundle, or "".
func (c current) incompatible(ci *CheckIn) string {
	if c.bundle.MinRuntimeVersion != "" {
		need, err := bundle.ParseVersion(c.bundle.MinRuntimeVersion)
		have, herr := bundle.ParseVersion(ci.RuntimeVersion)
		if err == nil && (herr != nil || have.Compare(need) < 0) {
			return "needs runtime " + c.bundle.MinRuntimeVersion
		}
	}
	if len(ci.Ops) > 0 {
		for _, op := range c.bundle.Ops {
			if !slices.Contains(ci.Ops, op) {
				return "needs op " + op
			}
		}
	}
	return ""
}
