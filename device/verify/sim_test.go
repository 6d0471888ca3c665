package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery/signing"
)

// simClock is a clock the test moves by hand.
type simClock struct{ now time.Time }

func (c *simClock) Now() time.Time { return c.now }
func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}
func (c *simClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// repoSim is an in-memory image repository and director, written with
// delivery/signing (go-tuf's metadata API), serving as a Fetcher. It is a
// value: every test makes its own.
type repoSim struct {
	t   testing.TB
	clk *simClock

	root, targets, snapshot, timestamp, director *signing.Key

	repo *signing.Repository
	dir  *signing.Director

	image, directorFiles map[string][]byte // by path
	imageRoot, dirRoot   []byte            // version 1, shipped with the app

	// override serves these bytes for a URL instead of the repository's
	// (a man in the middle); endless serves a never-ending stream.
	override map[string][]byte
	endless  map[string]bool
	// read counts bytes read per URL.
	read map[string]int64
}

const (
	simImage    = "sim://image"
	simDirector = "sim://director"
)

func newRepoSim(t testing.TB) *repoSim {
	t.Helper()
	s := &repoSim{
		t: t, clk: &simClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		image: map[string][]byte{}, directorFiles: map[string][]byte{},
		override: map[string][]byte{}, endless: map[string]bool{}, read: map[string]int64{},
	}
	key := func(role string) *signing.Key {
		k, err := signing.GenerateKey(role, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	s.root, s.targets, s.snapshot, s.timestamp, s.director = key("root"), key("targets"), key("snapshot"), key("timestamp"), key("director")
	repo, files, err := signing.Init(signing.Config{}, s.clk.Now(), signing.RoleKeys{
		Root: []*signing.Key{s.root}, Targets: []*signing.Key{s.targets},
		Snapshot: []*signing.Key{s.snapshot.PublicOnly()}, Timestamp: []*signing.Key{s.timestamp.PublicOnly()},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.repo = repo
	s.addImage(files)
	s.imageRoot = files[0].Data
	df, err := signing.InitDirectorRoot(signing.DirectorConfig{}, s.clk.Now(), []*signing.Key{s.root}, []*signing.Key{s.director})
	if err != nil {
		t.Fatal(err)
	}
	s.dirRoot = df.Data
	s.directorFiles[df.Path] = df.Data
	if s.dir, err = signing.NewDirector(signing.DirectorConfig{}, s.clk, []*signing.Key{s.director}); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	return s
}

func (s *repoSim) addImage(files []signing.File) {
	for _, f := range files {
		s.image[f.Path] = f.Data
	}
}

// refresh is the server's re-signing timer firing.
func (s *repoSim) refresh() {
	s.t.Helper()
	files, err := s.repo.Refresh(s.clk.Now(), []*signing.Key{s.snapshot}, []*signing.Key{s.timestamp})
	if err != nil {
		s.t.Fatal(err)
	}
	s.addImage(files)
}

// publish lists a bundle with content in the image repository.
func (s *repoSim) publish(model, version string, content []byte) signing.Bundle {
	s.t.Helper()
	b := signing.Bundle{Model: model, Version: version, Length: int64(len(content)), SHA256: sha256.Sum256(content),
		MinRuntimeVersion: "0.1.0", Ops: []string{"Gemm", "Relu"}}
	files, err := s.repo.AddBundle(s.clk.Now(), b, []*signing.Key{s.targets})
	if err != nil {
		s.t.Fatal(err)
	}
	s.addImage(files)
	s.refresh()
	return b
}

// rotateTimestamp has the root key replace the timestamp key with a new
// one and the server re-sign with it.
func (s *repoSim) rotateTimestamp() {
	s.t.Helper()
	nk, err := signing.GenerateKey("timestamp", rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	files, err := s.repo.RotateKeys(s.clk.Now(), "timestamp", []*signing.Key{nk}, []*signing.Key{s.root})
	if err != nil {
		s.t.Fatal(err)
	}
	s.addImage(files)
	s.timestamp = nk
	s.refresh()
}

// revoke delists a bundle.
func (s *repoSim) revoke(b signing.Bundle) {
	s.t.Helper()
	files, err := s.repo.RemoveBundle(s.clk.Now(), b.Model, b.Version, []*signing.Key{s.targets})
	if err != nil {
		s.t.Fatal(err)
	}
	s.addImage(files)
	s.refresh()
}

// assign has the director assign bundles to a device.
func (s *repoSim) assign(device string, bs ...signing.Bundle) []byte {
	s.t.Helper()
	doc, err := s.dir.Document(signing.Assignment{Device: device, Bundles: bs})
	if err != nil {
		s.t.Fatal(err)
	}
	s.directorFiles[signing.DirectorTargetsPath(device)] = doc.Data
	return doc.Data
}

// advance moves the clock; the server's timer re-signs what is due.
func (s *repoSim) advance(d time.Duration) {
	s.clk.now = s.clk.now.Add(d)
}

// Fetch implements Fetcher.
func (s *repoSim) Fetch(ctx context.Context, url string, maxLength int64) ([]byte, error) {
	var r io.Reader
	switch {
	case s.endless[url]:
		r = endlessReader{}
	case s.override[url] != nil:
		r = bytes.NewReader(s.override[url])
	default:
		var files map[string][]byte
		var p string
		switch {
		case strings.HasPrefix(url, simImage+"/"):
			files, p = s.image, strings.TrimPrefix(url, simImage+"/")
		case strings.HasPrefix(url, simDirector+"/"):
			files, p = s.directorFiles, strings.TrimPrefix(url, simDirector+"/")
		}
		data, ok := files[p]
		if !ok {
			return nil, fmt.Errorf("sim: %s: %w", url, ErrNotFound)
		}
		r = bytes.NewReader(data)
	}
	cr := &countingReader{r: r}
	defer func() { s.read[url] += cr.n }()
	return readLimited(cr, url, maxLength)
}

type endlessReader struct{}

func (endlessReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// client returns a device's verifier with its own store.
func (s *repoSim) client(device string) *Client {
	s.t.Helper()
	c, err := New(Config{
		ImageURL: simImage, DirectorURL: simDirector, Device: device,
		ImageRoot: s.imageRoot, DirectorRoot: s.dirRoot,
	}, s, &MemStore{}, s.clk)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// currentPath is the path of a role's latest version in the repository.
func (s *repoSim) currentPath(role string) string {
	s.t.Helper()
	for _, f := range s.latestFiles() {
		if f.Role == role {
			return f.Path
		}
	}
	s.t.Fatalf("no %s", role)
	return ""
}

func (s *repoSim) latestFiles() []signing.File {
	var out []signing.File
	for role, data := range s.repo.Latest() {
		v := versionOf(s.t, data)
		out = append(out, signing.File{Role: role, Version: v, Path: signing.MetadataPath(role, v), Data: data})
	}
	return out
}

func versionOf(t testing.TB, data []byte) int64 {
	var h header
	if _, err := parse(data, typeOf(data), &h); err != nil {
		t.Fatal(err)
	}
	return h.Version
}

func typeOf(data []byte) string {
	for _, ty := range []string{"root", "timestamp", "snapshot", "targets"} {
		if bytes.Contains(data, []byte(`"_type":"`+ty+`"`)) {
			return ty
		}
	}
	return ""
}

// update runs one Update and returns its targets' paths.
func update(t *testing.T, c *Client) ([]string, error) {
	t.Helper()
	res, err := c.Update(context.Background())
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, tg := range res.Targets {
		paths = append(paths, tg.Path)
	}
	return paths, nil
}
