package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// TestInteropWithGoTUFRepository verifies a repository go-tuf's metadata
// API wrote and returns the assigned bundle with the image repository's
// custom fields.
func TestInteropWithGoTUFRepository(t *testing.T) {
	s := newRepoSim(t)
	content := []byte("bundle next-place 1.0.0")
	b := s.publish("next-place", "1.0.0", content)
	s.publish("eta", "2.1.0", []byte("eta bundle"))
	s.assign("dev-1", b)
	c := s.client("dev-1")
	res, err := c.Update(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Targets) != 1 {
		t.Fatalf("targets %+v, want one", res.Targets)
	}
	got := res.Targets[0]
	if got.Path != "next-place/1.0.0.sxm" || got.Model != "next-place" || got.Version != "1.0.0" ||
		got.Length != int64(len(content)) || got.SHA256 != sha256.Sum256(content) ||
		got.MinRuntimeVersion != "0.1.0" || !slices.Equal(got.Ops, []string{"Gemm", "Relu"}) {
		t.Errorf("target %+v", got)
	}
	if err := got.Check(int64(len(content)), sha256.Sum256(content)); err != nil {
		t.Errorf("Check of the genuine bytes: %v", err)
	}
	if err := got.Check(int64(len(content)), sha256.Sum256([]byte("evil"))); !errors.Is(err, ErrMismatch) {
		t.Errorf("Check of other bytes: %v, want ErrMismatch", err)
	}
	// A second update with nothing new re-fetches only timestamp, root probe
	// and director document.
	clear(s.read)
	if _, err := c.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	for url := range s.read {
		switch url {
		case simImage + "/timestamp.json", simImage + "/2.root.json", simDirector + "/2.root.json",
			simDirector + "/" + signing.DirectorTargetsPath("dev-1"):
		default:
			t.Errorf("second update fetched %s", url)
		}
	}
}

// TestCanonicalMatchesGoTUF holds the lean canonical JSON to the encoder
// go-tuf signs with.
func TestCanonicalMatchesGoTUF(t *testing.T) {
	s := newRepoSim(t)
	s.publish("next-place", "1.0.0", []byte("x"))
	s.assign(`dev "quoted" \ slash`, s.publish("eta", "1.0.0", []byte("y")))
	docs := [][]byte{s.imageRoot, s.dirRoot}
	for _, d := range s.repo.Latest() {
		docs = append(docs, d)
	}
	for _, d := range s.directorFiles {
		docs = append(docs, d)
	}
	for _, d := range docs {
		env, err := parse(d, typeOf(d), &header{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := canonical(env.Signed)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := jsonUnmarshalNumber(env.Signed, &v); err != nil {
			t.Fatal(err)
		}
		want, err := cjson.EncodeCanonical(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("canonical form differs:\n got %s\nwant %s", got, want)
		}
	}
	if _, err := canonical([]byte(`{"a":1.5}`)); err == nil {
		t.Error("a float was canonicalized")
	}
}

// TestRootRotation follows a root rotated to a new key (signed by old and
// new) and refuses one signed by the new key alone.
func TestRootRotation(t *testing.T) {
	s := newRepoSim(t)
	b := s.publish("next-place", "1.0.0", []byte("a"))
	s.assign("dev-1", b)
	c := s.client("dev-1")
	if _, err := update(t, c); err != nil {
		t.Fatal(err)
	}
	newRoot, _ := signing.GenerateKey("root", rand.Reader)
	files, err := s.repo.RotateKeys(s.clk.Now(), "root", []*signing.Key{newRoot}, []*signing.Key{s.root})
	if err != nil {
		t.Fatal(err)
	}
	s.addImage(files)
	s.refresh()
	if _, err := update(t, c); err != nil {
		t.Fatalf("after a proper rotation: %v", err)
	}
	st := c.store.(*MemStore)
	r, _ := st.Load(storeImageRoot)
	if versionOf(t, r) != 2 {
		t.Fatalf("device trusts root v%d, want 2", versionOf(t, r))
	}

	// Root v3 signed only by a key the trusted root does not list.
	rogue, _ := signing.GenerateKey("root", rand.Reader)
	if _, err := s.repo.RotateKeys(s.clk.Now(), "root", []*signing.Key{rogue}, []*signing.Key{rogue}); !errors.Is(err, signing.ErrThreshold) {
		t.Fatalf("signer let a rogue key rotate root: %v", err)
	}
	// A self-signed root v3 (as a thief without the old root key could make).
	rogueRepo, rogueFiles, err := signing.Init(signing.Config{}, s.clk.Now(), signing.RoleKeys{
		Root: []*signing.Key{rogue}, Targets: []*signing.Key{rogue}, Snapshot: []*signing.Key{rogue}, Timestamp: []*signing.Key{rogue},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f, err := rogueRepo.RotateKeys(s.clk.Now(), "snapshot", []*signing.Key{rogue}, []*signing.Key{rogue})
		if err != nil {
			t.Fatal(err)
		}
		rogueFiles = f
	}
	s.image[signing.MetadataPath("root", 3)] = rogueFiles[0].Data
	if _, err := update(t, c); !errors.Is(err, ErrSignature) {
		t.Fatalf("root v3 signed by an unknown key: %v, want ErrSignature", err)
	}
}

// TestRejectsExpiredRoot fails an update whose final root has expired.
func TestRejectsExpiredRoot(t *testing.T) {
	s := newRepoSim(t)
	s.assign("dev-1")
	s.advance(366 * 24 * time.Hour)
	s.refresh()
	s.assign("dev-1")
	if _, err := update(t, s.client("dev-1")); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired root: %v, want ErrExpired", err)
	}
}

// TestRejectsDirectorDocumentForAnotherDevice refuses a document replayed
// from another device.
func TestRejectsDirectorDocumentForAnotherDevice(t *testing.T) {
	s := newRepoSim(t)
	b := s.publish("next-place", "1.0.0", []byte("a"))
	doc := s.assign("dev-other", b)
	s.directorFiles[signing.DirectorTargetsPath("dev-1")] = doc
	c := s.client("dev-1")
	if _, err := update(t, c); !errors.Is(err, ErrWrongDevice) || !errors.Is(err, ErrVerification) {
		t.Fatalf("replayed document: %v, want ErrWrongDevice", err)
	}
	c.hooks.skipDeviceBinding = true
	if paths, err := update(t, c); err != nil || len(paths) != 1 {
		t.Fatalf("defence off: %v %v, want the other device's bundle", paths, err)
	}
}

// TestPathsMatchSigning holds the device's repository paths to the signer's.
func TestPathsMatchSigning(t *testing.T) {
	for _, role := range []string{"root", "timestamp", "snapshot", "targets", "targets/next-place"} {
		if got, want := metadataPath(role, 7), signing.MetadataPath(role, 7); got != want {
			t.Errorf("%s: %q vs signing's %q", role, got, want)
		}
	}
	if got, want := directorTargetsPath("a/b c"), signing.DirectorTargetsPath("a/b c"); got != want {
		t.Errorf("director path %q vs %q", got, want)
	}
}

// jsonUnmarshalNumber decodes raw with numbers kept as json.Number.
func jsonUnmarshalNumber(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// TestVersionFloorsSurviveRestart keeps trusted versions in a DirStore, so
// a verifier started afresh still refuses a replayed older document.
func TestVersionFloorsSurviveRestart(t *testing.T) {
	s := newRepoSim(t)
	old := s.assign("dev-1", s.publish("next-place", "1.0.0", []byte("a")))
	dir := t.TempDir()
	mk := func() *Client {
		c, err := New(Config{ImageURL: simImage, DirectorURL: simDirector, Device: "dev-1",
			ImageRoot: s.imageRoot, DirectorRoot: s.dirRoot}, s, DirStore{Dir: dir}, s.clk)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := update(t, mk()); err != nil {
		t.Fatal(err)
	}
	s.advance(time.Hour)
	s.assign("dev-1", s.publish("next-place", "1.0.1", []byte("b")))
	if paths, err := update(t, mk()); err != nil || !slices.Equal(paths, []string{"next-place/1.0.1.sxm"}) {
		t.Fatal(paths, err)
	}
	s.override[simDirector+"/"+signing.DirectorTargetsPath("dev-1")] = old
	if _, err := update(t, mk()); !errors.Is(err, ErrRollback) {
		t.Fatalf("replay after restart: %v, want ErrRollback", err)
	}
	if _, err := (DirStore{Dir: dir}).Load("../etc/passwd"); err == nil {
		t.Error("DirStore accepted a name leaving its directory")
	}
}
