package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// SigningConfig configures OpenSigning. Metadata and Keys are required.
type SigningConfig struct {
	// Metadata keeps the signed documents the server serves.
	Metadata MetadataStore
	// Keys is the server's copy of the key directory: its online keys
	// (snapshot, timestamp, director) and, on first start, the metadata
	// `sextant keys init` wrote. Roots in it newer than the stored ones
	// (after `sextant keys rotate`) are imported at start. No passphrase
	// is needed: the server never opens an offline key.
	Keys signing.KeyDir
	// Clock is the time source for expiries and re-signing (default
	// clock.Real).
	Clock clock.Clock
	// Image and Director set expiries (zero values take the defaults).
	Image    signing.Config
	Director signing.DirectorConfig
	// Logger receives re-signing events (default: discard).
	Logger *slog.Logger
}

// Signing is the server's half of the two repositories: the image
// repository (opened from stored metadata, re-signed online), the director
// and the documents both serve. It is safe for concurrent use.
type Signing struct {
	store MetadataStore
	clk   clock.Clock
	log   *slog.Logger
	cfg   signing.Config

	image                      *signing.Repository
	director                   *signing.Director
	snapshotKeys, timestampKey []*signing.Key
	directorIDs                []string

	// mu serializes changes (uploads, re-signing) with their persistence
	// and guards directorRoot.
	mu           sync.Mutex
	directorRoot *metadata.Metadata[metadata.RootType]

	// smu guards served, which the hot path reads.
	smu    sync.RWMutex
	served map[string]map[string]servedFile // repo → path → document
}

// servedFile is a stored document as the server serves it.
type servedFile struct {
	role    string
	version int64
	data    []byte
	etag    string
}

// OpenSigning loads the stored metadata (seeding it from the key directory
// on first start), opens the image repository, loads the online keys,
// imports newer roots from the key directory and re-signs snapshot and
// timestamp if due.
func OpenSigning(ctx context.Context, cfg SigningConfig) (*Signing, error) {
	if cfg.Metadata == nil || cfg.Keys.Dir == "" {
		return nil, errors.New("server: signing needs a metadata store and a key directory")
	}
	s := &Signing{store: cfg.Metadata, clk: cfg.Clock, log: cfg.Logger, cfg: cfg.Image,
		served: map[string]map[string]servedFile{repoImage: {}, repoDirector: {}}}
	if s.clk == nil {
		s.clk = clock.Real
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	img, err := s.store.Load(ctx, repoImage)
	if err != nil {
		return nil, err
	}
	dir, err := s.store.Load(ctx, repoDirector)
	if err != nil {
		return nil, err
	}
	seedImg, seedDir, err := seedFromKeyDir(cfg.Keys)
	if err != nil {
		return nil, err
	}
	if len(img) == 0 {
		if len(seedImg) == 0 || len(seedDir) == 0 {
			return nil, fmt.Errorf("server: no metadata stored and none in %s (run sextant keys init)", cfg.Keys.Dir)
		}
		img, dir = seedImg, seedDir
		if err := s.store.Put(ctx, repoImage, img); err != nil {
			return nil, err
		}
		if err := s.store.Put(ctx, repoDirector, dir); err != nil {
			return nil, err
		}
	}
	s.index(repoImage, img)
	s.index(repoDirector, dir)
	if s.image, err = signing.Open(cfg.Image, latestByRole(img)); err != nil {
		return nil, err
	}
	droot := latestByRole(dir)["root"]
	if droot == nil {
		return nil, errors.New("server: no director root stored")
	}
	if s.directorRoot, err = metadata.Root().FromBytes(droot); err != nil {
		return nil, fmt.Errorf("server: director root: %w", err)
	}
	load := func(role string) (*signing.Key, error) {
		k, err := cfg.Keys.Load(role)
		if err != nil {
			return nil, fmt.Errorf("server: online key: %w", err)
		}
		return k, nil
	}
	var sk, tk, dk *signing.Key
	if sk, err = load("snapshot"); err != nil {
		return nil, err
	}
	if tk, err = load("timestamp"); err != nil {
		return nil, err
	}
	if dk, err = load("director"); err != nil {
		return nil, err
	}
	s.snapshotKeys, s.timestampKey, s.directorIDs = []*signing.Key{sk}, []*signing.Key{tk}, []string{dk.ID}
	if s.director, err = signing.NewDirector(cfg.Director, s.clk, []*signing.Key{dk}); err != nil {
		return nil, err
	}
	// Roots the operator rotated into the key directory since.
	var newer []signing.File
	for _, f := range seedImg {
		if f.Role == "root" && f.Version > s.latestVersion(repoImage, "root") {
			newer = append(newer, f)
		}
	}
	for _, f := range seedDir {
		if f.Version > s.latestVersion(repoDirector, "root") {
			f.Role = "director-root"
			newer = append(newer, f)
		}
	}
	if len(newer) > 0 {
		if _, err := s.Upload(ctx, newer); err != nil {
			return nil, fmt.Errorf("server: import rotated roots from %s: %w", cfg.Keys.Dir, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// latestByRole picks each role's highest version.
func latestByRole(files []signing.File) map[string][]byte {
	best := map[string]int64{}
	out := map[string][]byte{}
	for _, f := range files {
		if f.Version > best[f.Role] {
			best[f.Role], out[f.Role] = f.Version, f.Data
		}
	}
	return out
}

func (s *Signing) latestVersion(repo, role string) int64 {
	s.smu.RLock()
	defer s.smu.RUnlock()
	var v int64
	for _, f := range s.served[repo] {
		if f.role == role && f.version > v {
			v = f.version
		}
	}
	return v
}

// index adds documents to what the server serves. Timestamp is served
// unversioned, so only its highest version is kept there.
func (s *Signing) index(repo string, files []signing.File) {
	s.smu.Lock()
	defer s.smu.Unlock()
	for _, f := range files {
		p := signing.MetadataPath(f.Role, f.Version)
		if cur, ok := s.served[repo][p]; ok && f.Role == "timestamp" && cur.version > f.Version {
			continue
		}
		sum := sha256.Sum256(f.Data)
		s.served[repo][p] = servedFile{role: f.Role, version: f.Version, data: f.Data,
			etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	}
}

// file returns a served document of repo by its path (unescaped role:
// "3.targets/eta.json" and "3.targets%2Feta.json" both find it).
func (s *Signing) file(repo, p string) (servedFile, bool) {
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = strings.ReplaceAll(p, "/", "%2F")
	}
	s.smu.RLock()
	defer s.smu.RUnlock()
	f, ok := s.served[repo][p]
	return f, ok
}

// refreshLocked re-signs snapshot and timestamp if due and stores and
// serves the new documents.
func (s *Signing) refreshLocked(ctx context.Context) error {
	files, err := s.image.Refresh(s.clk.Now(), s.snapshotKeys, s.timestampKey)
	if err != nil {
		return fmt.Errorf("server: re-sign: %w", err)
	}
	return s.publishLocked(ctx, files)
}

func (s *Signing) publishLocked(ctx context.Context, files []signing.File) error {
	if len(files) == 0 {
		return nil
	}
	if err := s.store.Put(ctx, repoImage, files); err != nil {
		return err
	}
	s.index(repoImage, files)
	for _, f := range files {
		s.log.InfoContext(ctx, "metadata signed", slog.String("role", f.Role), slog.Int64("version", f.Version))
	}
	return nil
}

// RunRefresher re-signs snapshot and timestamp before they expire, on the
// injected clock, until ctx ends. A failure (say, a full disk) is logged
// and retried after a minute of clock time.
func (s *Signing) RunRefresher(ctx context.Context) error {
	for {
		err := s.image.RunRefresher(ctx, s.clk, s.snapshotKeys, s.timestampKey, func(files []signing.File) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.publishLocked(ctx, files)
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.ErrorContext(ctx, "metadata refresher failed; retrying", slog.Any("err", err))
		if err := s.clk.Sleep(ctx, timeMinute); err != nil {
			return err
		}
	}
}

// UploadFile is one signed document as the admin API carries it.
type UploadFile struct {
	// Role is "root", "targets", "targets/<model>" (image repository) or
	// "director-root".
	Role string `json:"role"`
	// Data is the signed JSON (base64 in the API's JSON).
	Data []byte `json:"data"`
}

// signedVersion reads signed.version of a metadata document.
func signedVersion(data []byte) (int64, error) {
	var doc struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Signed.Version <= 0 {
		return 0, delivery.Errorf(delivery.ErrInvalid, "document is not signed TUF metadata with a version")
	}
	return doc.Signed.Version, nil
}

// Upload checks documents the CLI signed offline against the trusted
// metadata, stores them, serves them and re-signs snapshot and timestamp.
// Nothing changes unless every document is accepted. It returns the
// documents the server signed in consequence.
func (s *Signing) Upload(ctx context.Context, files []signing.File) ([]signing.File, error) {
	var img, dir []signing.File
	for _, f := range files {
		v, err := signedVersion(f.Data)
		if err != nil {
			return nil, err
		}
		f.Version, f.Path = v, ""
		switch {
		case f.Role == "director-root":
			f.Role = "root"
			dir = append(dir, f)
		case f.Role == "root", f.Role == "targets":
			img = append(img, f)
		case strings.HasPrefix(f.Role, "targets/") && delivery.ValidName(strings.TrimPrefix(f.Role, "targets/")):
			img = append(img, f)
		default:
			return nil, delivery.Errorf(delivery.ErrInvalid, "role %q cannot be uploaded", f.Role)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Check on a copy first, so a refused upload or a failed write leaves
	// the served state as it was.
	check, err := signing.Open(s.cfg, s.image.Latest())
	if err != nil {
		return nil, fmt.Errorf("server: reopen repository: %w", err)
	}
	if err := check.Apply(img); err != nil {
		return nil, uploadError(err)
	}
	nextRoot := s.directorRoot
	slices.SortFunc(dir, func(a, b signing.File) int { return int(a.Version - b.Version) })
	for _, f := range dir {
		if nextRoot, err = s.checkDirectorRoot(nextRoot, f); err != nil {
			return nil, err
		}
	}
	if len(img) > 0 {
		if err := s.store.Put(ctx, repoImage, img); err != nil {
			return nil, err
		}
	}
	if len(dir) > 0 {
		if err := s.store.Put(ctx, repoDirector, dir); err != nil {
			return nil, err
		}
	}
	if err := s.image.Apply(img); err != nil {
		return nil, fmt.Errorf("server: apply checked upload: %w", err)
	}
	s.directorRoot = nextRoot
	s.index(repoImage, img)
	s.index(repoDirector, dir)
	for _, f := range files {
		s.log.InfoContext(ctx, "metadata uploaded", slog.String("role", f.Role))
	}
	before := s.latestVersion(repoImage, "timestamp")
	if err := s.refreshLocked(ctx); err != nil {
		return nil, err
	}
	var out []signing.File
	if v := s.latestVersion(repoImage, "timestamp"); v > before {
		out = append(out, signing.File{Role: "timestamp", Version: v, Path: "timestamp.json"})
	}
	return out, nil
}

// checkDirectorRoot accepts the next director root: version one more,
// signed by the thresholds of the current and its own root role, and still
// listing this server's director key for targets (else every document the
// server signs would be refused).
func (s *Signing) checkDirectorRoot(cur *metadata.Metadata[metadata.RootType], f signing.File) (*metadata.Metadata[metadata.RootType], error) {
	next, err := metadata.Root().FromBytes(f.Data)
	if err != nil {
		return nil, delivery.Errorf(delivery.ErrInvalid, "director root: not root metadata")
	}
	if next.Signed.Version != cur.Signed.Version+1 {
		return nil, delivery.Errorf(delivery.ErrConflict, "director root v%d does not follow v%d", next.Signed.Version, cur.Signed.Version)
	}
	if cur.VerifyDelegate("root", next) != nil || next.VerifyDelegate("root", next) != nil {
		return nil, delivery.Errorf(delivery.ErrForbidden, "director root v%d is not signed by the root keys", next.Signed.Version)
	}
	role := next.Signed.Roles["targets"]
	for _, id := range s.directorIDs {
		if role == nil || !slices.Contains(role.KeyIDs, id) {
			return nil, delivery.Errorf(delivery.ErrConflict,
				"director root v%d does not list this server's director key: install the new key and restart first", next.Signed.Version)
		}
	}
	return next, nil
}

// uploadError maps signing's errors to domain errors with safe messages.
func uploadError(err error) error {
	switch {
	case errors.Is(err, signing.ErrVersion):
		return delivery.Errorf(delivery.ErrConflict, "metadata version does not follow the server's: fetch the latest and sign again")
	case errors.Is(err, signing.ErrThreshold):
		return delivery.Errorf(delivery.ErrForbidden, "metadata is not signed by the keys the trusted metadata names")
	}
	return delivery.Errorf(delivery.ErrInvalid, "metadata refused: not valid TUF metadata for its role")
}

// Latest returns the latest image-repository documents by role, as
// signing.Open takes them (the CLI signs on top of them).
func (s *Signing) Latest() map[string][]byte { return s.image.Latest() }

// Listed reports whether the image repository lists model@version.
func (s *Signing) Listed(model, version string) bool {
	return slices.Contains(s.image.Bundles(model), signing.Bundle{Model: model, Version: version}.Path())
}

// Director returns the director, which signs per-device documents.
func (s *Signing) Director() *signing.Director { return s.director }
