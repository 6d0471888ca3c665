package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery/signing"
)

// These tests hold the memo (memo.go) to "every check kept": a client that
// remembers what it verified must answer every update exactly as a client
// that verifies everything afresh, attacks and key rotations included, and
// leave the same bytes in its store.

// twinClients are one device's two verifiers over the same repositories,
// each with its own store: one long-lived with the memo, one uncached.
type twinClients struct {
	cached, uncached *Client
	cs, us           *MemStore
}

func newTwinClients(t *testing.T, s *repoSim, device string) *twinClients {
	t.Helper()
	tw := &twinClients{cs: &MemStore{}, us: &MemStore{}}
	mk := func(st Store) *Client {
		c, err := New(Config{ImageURL: simImage, DirectorURL: simDirector, Device: device,
			ImageRoot: s.imageRoot, DirectorRoot: s.dirRoot}, s, st, s.clk)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tw.cached, tw.uncached = mk(tw.cs), mk(tw.us)
	tw.uncached.uncached = true
	return tw
}

// verifyErrors are the failure classes an update is compared on.
var verifyErrors = []error{ErrSignature, ErrRollback, ErrExpired, ErrMismatch, ErrNotListed,
	ErrTooLarge, ErrWrongDevice, ErrMalformed, ErrNotFound}

func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	for _, e := range verifyErrors {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other: " + err.Error()
}

// step updates both clients and fails unless both end as want (nil or one
// of verifyErrors), with the same targets and the same stored documents.
// It returns the signature checks the cached client ran and its error.
func (tw *twinClients) step(t *testing.T, name string, want error) (int, error) {
	t.Helper()
	tw.cached.memo.checks = 0
	cp, cerr := update(t, tw.cached)
	up, uerr := update(t, tw.uncached)
	if errClass(cerr) != errClass(want) || errClass(uerr) != errClass(want) {
		t.Fatalf("%s: cached %v, uncached %v; want %v", name, cerr, uerr, want)
	}
	if !slices.Equal(cp, up) {
		t.Fatalf("%s: cached targets %v, uncached %v", name, cp, up)
	}
	tw.cs.mu.Lock()
	tw.us.mu.Lock()
	same := maps.EqualFunc(tw.cs.docs, tw.us.docs, bytes.Equal)
	tw.us.mu.Unlock()
	tw.cs.mu.Unlock()
	if !same {
		t.Fatalf("%s: the cached client's store differs from the uncached one's", name)
	}
	return tw.cached.memo.checks, cerr
}

// TestMemoMatchesUncachedUnderAttack runs one long-lived client with the
// memo beside an uncached one through changes, attacks replayed twice (a
// failure must not be remembered as a pass), and rotations of the image
// timestamp, image targets and director keys (a check that passed under the
// old keys must be made again under the new ones).
func TestMemoMatchesUncachedUnderAttack(t *testing.T) {
	s := newRepoSim(t)
	b1 := s.publish("next-place", "1.0.0", []byte("a"))
	doc1 := s.assign("dev-1", b1)
	tw := newTwinClients(t, s, "dev-1")
	director := simDirector + "/" + signing.DirectorTargetsPath("dev-1")
	timestamp := simImage + "/timestamp.json"

	tw.step(t, "first update", nil)
	if n, _ := tw.step(t, "no change", nil); n != 0 {
		t.Errorf("no change: %d signature checks, want 0", n)
	}
	s.advance(time.Minute)
	b2 := s.publish("next-place", "1.0.1", []byte("b"))
	s.assign("dev-1", b2)
	tw.step(t, "new bundle", nil)

	// Bytes an attacker without the key altered: checked, and refused,
	// every time they are served.
	ts := s.image["timestamp.json"]
	s.override[timestamp] = withVersion(t, ts, versionOf(t, ts)+1)
	for _, again := range []string{"", " again"} {
		if n, _ := tw.step(t, "forged timestamp"+again, ErrSignature); n == 0 {
			t.Errorf("forged timestamp%s: answered from the memo", again)
		}
	}
	delete(s.override, timestamp)
	tw.step(t, "forgery withdrawn", nil)

	// Validly signed documents that fail a check other than signatures:
	// refused again when the memo knows their signatures are good.
	s.override[director] = doc1
	tw.step(t, "director document replayed", ErrRollback)
	tw.step(t, "director document replayed again", ErrRollback)
	s.override[director] = s.assign("dev-2", b2)
	tw.step(t, "another device's document", ErrWrongDevice)
	tw.step(t, "another device's document again", ErrWrongDevice)
	delete(s.override, director)
	tw.step(t, "own document again", nil)

	// The image timestamp key rotates: the timestamp the old key signed,
	// whose signature the memo passed under the old root, is refused.
	oldTS := s.image["timestamp.json"]
	s.rotateTimestamp()
	s.override[timestamp] = oldTS
	tw.step(t, "timestamp by the rotated-out key", ErrSignature)
	delete(s.override, timestamp)
	tw.step(t, "timestamp key rotated", nil)

	// The image targets key rotates (delegations re-keyed, targets re-signed).
	nt, err := signing.GenerateKey("targets", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files, err := s.repo.RotateKeys(s.clk.Now(), "targets", []*signing.Key{nt}, []*signing.Key{s.root})
	if err != nil {
		t.Fatal(err)
	}
	s.addImage(files)
	s.targets = nt
	s.refresh()
	tw.step(t, "targets key rotated", nil)

	// The director key rotates but the old key still signs the device's
	// document (the reason to rotate: it leaked). The client verified
	// these very bytes last time; under the new director root they fail.
	nd, err := signing.GenerateKey("director", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	df, err := signing.RotateDirectorRoot(signing.DirectorConfig{}, s.clk.Now(), s.dirRoot, "director", []*signing.Key{nd}, []*signing.Key{s.root})
	if err != nil {
		t.Fatal(err)
	}
	s.directorFiles[df.Path] = df.Data
	for _, again := range []string{"", " again"} {
		if n, _ := tw.step(t, "director document by the rotated-out key"+again, ErrSignature); n == 0 {
			t.Errorf("director document by the rotated-out key%s: answered from the memo", again)
		}
	}
	if s.dir, err = signing.NewDirector(signing.DirectorConfig{}, s.clk, []*signing.Key{nd}); err != nil {
		t.Fatal(err)
	}
	s.advance(time.Minute)
	s.assign("dev-1", b2)
	tw.step(t, "director re-signs with the new key", nil)
	if n, _ := tw.step(t, "no change after the rotations", nil); n != 0 {
		t.Errorf("no change after the rotations: %d signature checks, want 0", n)
	}

	// Nothing re-signed for two days: the same bytes the memo passed are
	// now expired (the director document first).
	s.advance(48 * time.Hour)
	for _, again := range []string{"", " again"} {
		if _, err := tw.step(t, "frozen"+again, ErrExpired); !strings.Contains(err.Error(), "director targets") {
			t.Errorf("frozen%s: %v, want the director document's expiry", again, err)
		}
	}
}

// TestSharedParsesSurviveGC: under concurrent parses of many documents and
// collections, the cache never answers one document's bytes with another's
// parse, and a collected parse's entry is removed (run with -race).
func TestSharedParsesSurviveGC(t *testing.T) {
	s := newRepoSim(t)
	base := s.image["timestamp.json"]
	const n = 64
	docs := make([][]byte, n)
	for i := range docs {
		docs[i] = withVersion(t, base, int64(1000+i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				j := (i*7 + g*13) % n
				if i%200 == 0 {
					runtime.GC()
				}
				_, ts, err := parseShared[fileMeta](slices.Clone(docs[j]), "timestamp", true)
				if err != nil {
					errs <- err
					return
				}
				if ts.Version != int64(1000+j) {
					errs <- fmt.Errorf("document %d: parse of version %d", j, ts.Version)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Nothing holds the parses now: the cleanups remove their entries.
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		left := 0
		for _, d := range docs {
			if _, ok := parsed.Load(parsedKey{typ: "timestamp", sum: sha256.Sum256(d)}); ok {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d collected parses still cached", left, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFailedUpdateRemembersNoDirectorDocument: a director document whose
// signature fails is not kept as the verified one, and the one kept is
// only answered for the root it was checked under.
func TestFailedUpdateRemembersNoDirectorDocument(t *testing.T) {
	s := newRepoSim(t)
	b := s.publish("next-place", "1.0.0", []byte("a"))
	doc := s.assign("dev-1", b)
	c := s.client("dev-1")
	if _, err := c.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	kept := c.director
	if kept.doc == nil || kept.sum != sha256.Sum256(doc) {
		t.Fatal("the verified director document is not the one kept")
	}
	s.override[simDirector+"/"+signing.DirectorTargetsPath("dev-1")] = withVersion(t, doc, versionOf(t, doc)+1)
	if _, err := c.Update(context.Background()); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged director document: %v, want ErrSignature", err)
	}
	if c.director != kept {
		t.Error("a failed director document replaced the verified one")
	}
	// Another root (same keys, new bytes): the kept document is checked
	// again rather than answered.
	r2, err := signing.RotateDirectorRoot(signing.DirectorConfig{}, s.clk.Now(), s.dirRoot, "root", []*signing.Key{s.root}, []*signing.Key{s.root})
	if err != nil {
		t.Fatal(err)
	}
	s.directorFiles[r2.Path] = r2.Data
	delete(s.override, simDirector+"/"+signing.DirectorTargetsPath("dev-1"))
	c.memo.checks = 0
	if _, err := c.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.director.root == kept.root {
		t.Error("the director document is still keyed to the old root")
	}
	if c.memo.checks == 0 {
		t.Error("no signature checked after the director root changed")
	}
}

// TestCachedDirectorDocumentStillBound: a validly signed document for
// another device, answered from the kept director document (no stored one
// to check first), is refused every time.
func TestCachedDirectorDocumentStillBound(t *testing.T) {
	s := newRepoSim(t)
	b := s.publish("next-place", "1.0.0", []byte("a"))
	s.override[simDirector+"/"+signing.DirectorTargetsPath("dev-1")] = s.assign("dev-2", b)
	c := s.client("dev-1")
	for i := range 2 {
		c.memo.checks = 0
		if _, err := c.Update(context.Background()); !errors.Is(err, ErrWrongDevice) {
			t.Fatalf("update %d: %v, want ErrWrongDevice", i, err)
		}
		if i == 1 && c.memo.checks != 0 {
			t.Errorf("second update: %d signature checks, want 0 (the kept document)", c.memo.checks)
		}
	}
}
