package server

import (
	"net/http"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// metadataFile serves a repository's signed documents by consistent-
// snapshot path (signing.MetadataPath). The router unescapes the path
// segment, so "3.targets%2Feta.json" arrives as "3.targets/eta.json".
func (s *Server) metadataFile(repo string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		f, ok := s.sign.file(repo, name)
		if !ok || len(name) > 512 {
			s.writeError(w, r, delivery.Errorf(delivery.ErrNotFound, "no such metadata"))
			return
		}
		cc := "public, max-age=300"
		if f.role == "timestamp" {
			// The one mutable image document: devices must see a new one
			// soon after a publish.
			cc = "public, max-age=30"
		}
		serveBytes(w, r, f.data, f.etag, cc)
	}
}

// blob serves a content-addressed blob with Range, If-Range and ETag
// (http.ServeContent); its address never changes content, so caches may
// keep it forever.
func (s *Server) blob(w http.ResponseWriter, r *http.Request) {
	sum := r.PathValue("hex")
	if !delivery.ValidSHA256(sum) {
		s.writeError(w, r, delivery.Errorf(delivery.ErrNotFound, "no such blob"))
		return
	}
	f, _, err := s.blobs.Open(r.Context(), sum)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("ETag", `"`+sum+`"`)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, f)
}
