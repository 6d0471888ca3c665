package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/delivery"
)

// maxNotes bounds a version's release notes.
const maxNotes = 4096

// Published is the answer to a publish: the stored version and what the
// publisher signs into the image repository.
type Published struct {
	Version delivery.Version `json:"version"`
	Target  BundleTarget     `json:"target"`
}

// BundleTarget is a bundle as the image repository lists it
// (signing.Bundle in JSON).
type BundleTarget struct {
	Model             string   `json:"model"`
	Version           string   `json:"version"`
	SHA256            string   `json:"sha256"`
	Length            int64    `json:"length"`
	MinRuntimeVersion string   `json:"min_runtime_version,omitempty"`
	Ops               []string `json:"ops,omitempty"`
}

// ContentDigest formats a SHA-256 as an RFC 9530 Content-Digest value.
func ContentDigest(sum [32]byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// parseDigest reads the sha-256 member of an RFC 9530 Content-Digest
// header as lower-case hex.
func parseDigest(h string) (string, error) {
	for _, member := range strings.Split(h, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(alg), "sha-256") {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			break
		}
		sum, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil || len(sum) != 32 {
			break
		}
		return hex.EncodeToString(sum), nil
	}
	return "", delivery.Errorf(delivery.ErrInvalid, "a Content-Digest header with the bundle's sha-256 is required (RFC 9530)")
}

// publish stores an uploaded bundle (streamed into the blob store with its
// announced length and SHA-256 checked, never whole in memory), reads its
// manifest from the stored blob, and records the version, which must
// increase over the model's latest.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	name := r.PathValue("name")
	c.target = name
	if !delivery.ValidName(name) {
		return delivery.Errorf(delivery.ErrInvalid, "model name %q is not valid", name)
	}
	if r.ContentLength <= 0 {
		return delivery.Errorf(delivery.ErrInvalid, "a Content-Length is required")
	}
	if r.ContentLength > s.cfg.MaxBundleBytes {
		return &httpError{code: codeTooLarge, msg: fmt.Sprintf("bundle exceeds %d bytes", s.cfg.MaxBundleBytes)}
	}
	notes := r.URL.Query().Get("notes")
	if len(notes) > maxNotes {
		return delivery.Errorf(delivery.ErrInvalid, "notes exceed %d bytes", maxNotes)
	}
	sum, err := parseDigest(r.Header.Get("Content-Digest"))
	if err != nil {
		return err
	}
	blob, err := s.blobs.Put(ctx, r.Body, delivery.Blob{SHA256: sum, Length: r.ContentLength})
	if err != nil {
		return err
	}
	m, err := s.manifestOf(ctx, blob)
	if err != nil {
		return err
	}
	c.target = m.Name + "@" + m.Version
	if m.Name != name {
		return delivery.Errorf(delivery.ErrInvalid, "the bundle's manifest names model %q, not %q", m.Name, name)
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("server: encode manifest: %w", err)
	}
	v := delivery.VersionFromManifest(m)
	v.SHA256, v.Length, v.Manifest, v.PublishedBy, v.Notes = blob.SHA256, blob.Length, mj, c.token.ID, notes
	if _, err := s.store.GetModel(ctx, name); errors.Is(err, delivery.ErrNotFound) {
		_, err = s.store.CreateModel(ctx, delivery.Model{Name: name, CreatedBy: c.token.ID})
		if err != nil && !errors.Is(err, delivery.ErrConflict) {
			return err
		}
	} else if err != nil {
		return err
	}
	if v, err = s.store.PublishVersion(ctx, v); err != nil {
		return err
	}
	s.makeDelta(ctx, v)
	writeJSON(w, http.StatusCreated, Published{Version: v, Target: BundleTarget{
		Model: v.Model, Version: v.Version, SHA256: v.SHA256, Length: v.Length,
		MinRuntimeVersion: m.MinRuntimeVersion, Ops: m.Ops,
	}})
	return nil
}

// blobPather is the optional capability of a blob store on a file system
// (store.Blobs): a blob's path, which bundle.Open maps without copying.
type blobPather interface {
	Path(sha256 string) (string, error)
}

// manifestOf checks a stored bundle's own content hash and structure and
// returns its manifest. A blob store without paths is spooled to a
// temporary file first; either way the bundle is never read into memory
// whole.
func (s *Server) manifestOf(ctx context.Context, blob delivery.Blob) (*bundle.Manifest, error) {
	var path string
	if bp, ok := s.blobs.(blobPather); ok {
		p, err := bp.Path(blob.SHA256)
		if err != nil {
			return nil, err
		}
		path = p
	} else {
		rc, _, err := s.blobs.Open(ctx, blob.SHA256)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		tmp, err := os.CreateTemp("", "sextant-publish-*.sxm")
		if err != nil {
			return nil, fmt.Errorf("server: spool bundle: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, rc); err != nil {
			return nil, fmt.Errorf("server: spool bundle: %w", err)
		}
		path = tmp.Name()
	}
	if err := bundle.VerifyFile(path); err != nil {
		return nil, notABundle(err)
	}
	b, err := bundle.Open(path)
	if err != nil {
		return nil, notABundle(err)
	}
	defer b.Close()
	return b.Manifest, nil
}

// notABundle reports a refused upload without the server's paths.
func notABundle(err error) error {
	var fe *bundle.FormatError
	if errors.As(err, &fe) {
		return delivery.Errorf(delivery.ErrInvalid, "not a valid Sextant bundle: %s", fe.Error())
	}
	if errors.Is(err, bundle.ErrChecksum) {
		return delivery.Errorf(delivery.ErrIntegrity, "the bundle's content does not match the hash in its header")
	}
	return delivery.Errorf(delivery.ErrInvalid, "not a valid Sextant bundle")
}
