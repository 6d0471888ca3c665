package server

import (
	"net/http"
	"strconv"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// maxMetadataUpload bounds a signed-metadata upload (go-tuf's default
// limit for a targets document is 5 MB; an upload holds a few).
const maxMetadataUpload = 16 << 20

// ModelDetail is a model with its versions.
type ModelDetail struct {
	Model    delivery.Model     `json:"model"`
	Versions []delivery.Version `json:"versions"`
}

// VersionDetail is a version with its artifacts and whether the image
// repository lists it (only listed versions can become current).
type VersionDetail struct {
	Version   delivery.Version    `json:"version"`
	Artifacts []delivery.Artifact `json:"artifacts"`
	Signed    bool                `json:"signed"`
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := s.store.ListModels(r.Context())
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []delivery.Model{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": ms})
	return nil
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	c.target = name
	m, err := s.store.GetModel(r.Context(), name)
	if err != nil {
		return err
	}
	vs, err := s.store.ListVersions(r.Context(), name)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []delivery.Version{}
	}
	writeJSON(w, http.StatusOK, ModelDetail{Model: m, Versions: vs})
	return nil
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	c.target = name
	if _, err := s.store.GetModel(r.Context(), name); err != nil {
		return err
	}
	vs, err := s.store.ListVersions(r.Context(), name)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []delivery.Version{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, c *call) error {
	name, ver := r.PathValue("name"), r.PathValue("version")
	c.target = name + "@" + ver
	v, err := s.store.GetVersion(r.Context(), name, ver)
	if err != nil {
		return err
	}
	as, err := s.store.ListArtifacts(r.Context(), name, ver)
	if err != nil {
		return err
	}
	if as == nil {
		as = []delivery.Artifact{}
	}
	writeJSON(w, http.StatusOK, VersionDetail{Version: v, Artifacts: as, Signed: s.sign.Listed(name, ver)})
	return nil
}

func (s *Server) lineage(w http.ResponseWriter, r *http.Request, c *call) error {
	name, ver := r.PathValue("name"), r.PathValue("version")
	c.target = name + "@" + ver
	vs, err := s.store.Lineage(r.Context(), name, ver)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"lineage": vs})
	return nil
}

// SetCurrentRequest is the body of PUT /v1/admin/models/{name}/current.
type SetCurrentRequest struct {
	Version string `json:"version"`
}

// setCurrent points a model's current version (what the director assigns
// until rollouts decide per device) at a published, signed version.
func (s *Server) setCurrent(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("name")
	c.target = name
	var req SetCurrentRequest
	if err := readJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	c.target = name + "@" + req.Version
	if _, err := s.store.GetVersion(r.Context(), name, req.Version); err != nil {
		return err
	}
	if !s.sign.Listed(name, req.Version) {
		return delivery.Errorf(delivery.ErrConflict, "%s@%s is not signed into the image repository (finish sextant publish first)", name, req.Version)
	}
	if err := s.store.SetCurrent(r.Context(), name, req.Version); err != nil {
		return err
	}
	s.currents.invalidate()
	m, err := s.store.GetModel(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// MetadataResponse carries the image repository's latest documents by role
// (base64 in JSON), which the publisher signs on top of.
type MetadataResponse struct {
	Files map[string][]byte `json:"files"`
}

func (s *Server) getMetadata(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, MetadataResponse{Files: s.sign.Latest()})
	return nil
}

// UploadRequest is the body of POST /v1/admin/metadata.
type UploadRequest struct {
	Files []UploadFile `json:"files"`
}

// UploadResponse says what the server signed after accepting an upload.
type UploadResponse struct {
	// Timestamp is the version of the timestamp that publishes the upload.
	Timestamp int64 `json:"timestamp"`
}

func (s *Server) uploadMetadata(w http.ResponseWriter, r *http.Request, c *call) error {
	var req UploadRequest
	if err := readJSON(w, r, maxMetadataUpload, &req); err != nil {
		return err
	}
	if len(req.Files) == 0 || len(req.Files) > 64 {
		return delivery.Errorf(delivery.ErrInvalid, "an upload holds 1 to 64 files")
	}
	files := make([]signing.File, len(req.Files))
	for i, f := range req.Files {
		files[i] = signing.File{Role: f.Role, Data: f.Data}
		if i == 0 {
			c.target = f.Role
		} else {
			c.target += "," + f.Role
		}
	}
	if _, err := s.sign.Upload(r.Context(), files); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, UploadResponse{Timestamp: s.sign.latestVersion(repoImage, "timestamp")})
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	aq := delivery.AuditQuery{Who: q.Get("who"), What: q.Get("what")}
	var err error
	if b := q.Get("before"); b != "" {
		if aq.Before, err = strconv.ParseInt(b, 10, 64); err != nil {
			return delivery.Errorf(delivery.ErrInvalid, "before is not an integer")
		}
	}
	if l := q.Get("limit"); l != "" {
		if aq.Limit, err = strconv.Atoi(l); err != nil {
			return delivery.Errorf(delivery.ErrInvalid, "limit is not an integer")
		}
	}
	es, err := s.store.ListAudit(r.Context(), aq)
	if err != nil {
		return err
	}
	if es == nil {
		es = []delivery.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": es})
	return nil
}
