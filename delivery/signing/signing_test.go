package signing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

type testKeys struct{ root, targets, snapshot, timestamp, director *Key }

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	g := func(role string) *Key {
		k, err := GenerateKey(role, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return testKeys{g("root"), g("targets"), g("snapshot"), g("timestamp"), g("director")}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func initRepo(t testing.TB, k testKeys) (*Repository, []File) {
	t.Helper()
	r, files, err := Init(Config{}, t0, RoleKeys{
		Root: []*Key{k.root}, Targets: []*Key{k.targets},
		Snapshot: []*Key{k.snapshot.PublicOnly()}, Timestamp: []*Key{k.timestamp.PublicOnly()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, files
}

func bundle(model, version, content string) Bundle {
	return Bundle{Model: model, Version: version, Length: int64(len(content)), SHA256: sha256.Sum256([]byte(content))}
}

// TestPublishThroughServer runs the split the product uses: the CLI signs
// offline, the server Applies the upload and re-signs online; go-tuf's
// metadata API then verifies the chain.
func TestPublishThroughServer(t *testing.T) {
	k := newTestKeys(t)
	cli, files := initRepo(t, k)
	server, err := Open(Config{}, cli.Latest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Refresh(t0, []*Key{k.snapshot}, []*Key{k.timestamp}); err != nil {
		t.Fatal(err)
	}
	up, err := cli.AddBundle(t0, bundle("next-place", "1.0.0", "a"), []*Key{k.targets})
	if err != nil {
		t.Fatal(err)
	}
	if len(up) != 2 || up[0].Role != "targets" || up[1].Role != "targets/next-place" || up[1].Path != "1.targets%2Fnext-place.json" {
		t.Fatalf("upload %+v", up)
	}
	if err := server.Apply(up); err != nil {
		t.Fatal(err)
	}
	out, err := server.Refresh(t0, []*Key{k.snapshot}, []*Key{k.timestamp})
	if err != nil || len(out) != 2 {
		t.Fatalf("refresh after apply: %d files, %v", len(out), err)
	}
	// Replaying the same upload is refused.
	if err := server.Apply(up); !errors.Is(err, ErrVersion) {
		t.Fatalf("replayed upload: %v, want ErrVersion", err)
	}
	// An upload signed with a key the root does not list is refused.
	rogue := newTestKeys(t)
	evil, _ := initRepo(t, rogue)
	bad, err := evil.AddBundle(t0, bundle("next-place", "6.6.6", "x"), []*Key{rogue.targets})
	if err != nil {
		t.Fatal(err)
	}
	bad[1].Data = bytes.Replace(bad[1].Data, []byte(`"version":1`), []byte(`"version":2`), 1)
	if err := server.Apply(bad[1:]); !errors.Is(err, ErrThreshold) {
		t.Fatalf("rogue upload: %v, want ErrThreshold", err)
	}
	// go-tuf verifies what was produced.
	latest := server.Latest()
	root, _ := metadata.Root().FromBytes(files[0].Data)
	top, _ := metadata.Targets().FromBytes(latest["targets"])
	del, _ := metadata.Targets().FromBytes(latest["targets/next-place"])
	snap, _ := metadata.Snapshot().FromBytes(latest["snapshot"])
	ts, _ := metadata.Timestamp().FromBytes(latest["timestamp"])
	for what, err := range map[string]error{
		"targets":   root.VerifyDelegate("targets", top),
		"delegated": top.VerifyDelegate("targets/next-place", del),
		"snapshot":  root.VerifyDelegate("snapshot", snap),
		"timestamp": root.VerifyDelegate("timestamp", ts),
	} {
		if err != nil {
			t.Errorf("go-tuf rejects %s: %v", what, err)
		}
	}
	tf := del.Signed.Targets["next-place/1.0.0.sxm"]
	sumA := sha256.Sum256([]byte("a"))
	if tf == nil || tf.Length != 1 || !bytes.Equal(tf.Hashes["sha256"], sumA[:]) {
		t.Errorf("target %+v", tf)
	}
	if snap.Signed.Meta["targets/next-place.json"].Version != 1 || snap.Signed.Meta["targets.json"].Version != 2 {
		t.Errorf("snapshot meta %+v", snap.Signed.Meta)
	}
}

// TestRefreshBeforeExpiry re-signs snapshot and timestamp only when due,
// always before they expire, with increasing versions.
func TestRefreshBeforeExpiry(t *testing.T) {
	k := newTestKeys(t)
	r, _ := initRepo(t, k)
	online := func(now time.Time) []File {
		f, err := r.Refresh(now, []*Key{k.snapshot}, []*Key{k.timestamp})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := online(t0); len(f) != 2 {
		t.Fatalf("first refresh: %d files", len(f))
	}
	if f := online(t0.Add(time.Hour)); len(f) != 0 {
		t.Fatalf("refresh with nothing due wrote %d files", len(f))
	}
	var lastTS int64 = 1
	now := t0
	for range 40 { // twenty simulated days, on the server's timer
		next := r.NextRefresh(now)
		if !next.After(now) {
			t.Fatalf("NextRefresh %v not after %v", next, now)
		}
		now = next
		for _, f := range online(now) {
			if f.Role == "timestamp" {
				if f.Version <= lastTS {
					t.Fatalf("timestamp version %d after %d", f.Version, lastTS)
				}
				lastTS = f.Version
			}
		}
		for role, exp := range r.Expires() {
			if (role == "snapshot" || role == "timestamp") && !exp.After(now) {
				t.Fatalf("%s expired at %v (now %v)", role, exp, now)
			}
		}
	}
	if lastTS < 30 {
		t.Errorf("timestamp re-signed %d times in 20 days", lastTS)
	}
}

// TestRotateTargetsRekeysDelegations moves every model delegation to the new
// targets key and signs a root go-tuf accepts under the old one.
func TestRotateTargetsRekeysDelegations(t *testing.T) {
	k := newTestKeys(t)
	r, files := initRepo(t, k)
	for _, m := range []string{"eta", "next-place"} {
		if _, err := r.AddBundle(t0, bundle(m, "1.0.0", m), []*Key{k.targets}); err != nil {
			t.Fatal(err)
		}
	}
	nk, _ := GenerateKey("targets", rand.Reader)
	out, err := r.RotateKeys(t0, "targets", []*Key{nk}, []*Key{k.root})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 {
		t.Fatalf("rotation wrote %d files, want root, targets and two delegations", len(out))
	}
	old, _ := metadata.Root().FromBytes(files[0].Data)
	next, _ := metadata.Root().FromBytes(out[0].Data)
	if err := old.VerifyDelegate("root", next); err != nil {
		t.Fatalf("old root does not vouch for the new: %v", err)
	}
	if _, err := r.AddBundle(t0, bundle("eta", "1.0.1", "x"), []*Key{k.targets}); !errors.Is(err, ErrNotRoleKey) {
		t.Fatalf("old targets key still signs: %v", err)
	}
	if _, err := r.AddBundle(t0, bundle("eta", "1.0.1", "x"), []*Key{nk}); err != nil {
		t.Fatal(err)
	}
}

// TestDirectorCachesPerAssignment signs once per assignment change (and
// near expiry), not per check-in.
func TestDirectorCachesPerAssignment(t *testing.T) {
	k := newTestKeys(t)
	clk := &manualClock{now: t0}
	d, err := NewDirector(DirectorConfig{}, clk, []*Key{k.director})
	if err != nil {
		t.Fatal(err)
	}
	a := Assignment{Device: "dev-1", Bundles: []Bundle{bundle("next-place", "1.0.0", "a")}}
	first, err := d.Document(a)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		clk.now = clk.now.Add(time.Minute)
		doc, err := d.Document(a)
		if err != nil || !bytes.Equal(doc.Data, first.Data) {
			t.Fatalf("check-in re-signed an unchanged assignment: %v", err)
		}
	}
	if d.Signed() != 1 {
		t.Fatalf("signed %d documents for one assignment", d.Signed())
	}
	a.Bundles[0] = bundle("next-place", "1.0.1", "b")
	changed, err := d.Document(a)
	if err != nil || changed.Version <= first.Version || d.Signed() != 2 {
		t.Fatalf("assignment change: v%d after v%d, %d signed, %v", changed.Version, first.Version, d.Signed(), err)
	}
	clk.now = clk.now.Add(13 * time.Hour) // past RenewBefore of a 24 h document
	renewed, err := d.Document(a)
	if err != nil || renewed.Version <= changed.Version || !renewed.Expires.After(changed.Expires) {
		t.Fatalf("renewal: %+v %v", renewed, err)
	}
	md, err := metadata.Targets().FromBytes(renewed.Data)
	if err != nil || md.Signed.UnrecognizedFields["device"] != "dev-1" {
		t.Fatalf("document names %v, %v", md.Signed.UnrecognizedFields["device"], err)
	}
}

type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }
func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}
func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

var _ clock.Clock = (*manualClock)(nil)

// TestKeyDirEncryptsOfflineKeys stores offline keys only encrypted, and
// opens them only with the passphrase.
func TestKeyDirEncryptsOfflineKeys(t *testing.T) {
	dir := t.TempDir()
	kd := KeyDir{Dir: dir, Passphrase: "correct horse", WorkFactor: 10}
	k := newTestKeys(t)
	for _, key := range []*Key{k.root, k.snapshot} {
		if err := kd.Save(key, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := kd.Save(k.root, false); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "root.key.age"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(hex.EncodeToString(k.root.private.Seed()))) || !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) {
		t.Fatal("root key stored in the clear")
	}
	got, err := kd.Load("root")
	if err != nil || got.ID != k.root.ID || !got.CanSign() {
		t.Fatalf("load root: %v", err)
	}
	if _, err := (KeyDir{Dir: dir, Passphrase: "wrong"}).Load("root"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "online", "snapshot.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("online key file: %v %v", fi, err)
	}
}

// TestRunRefresherKeepsTimestampFresh runs the server's timer loop on a
// synctest bubble's fake clock for ten simulated days.
func TestRunRefresherKeepsTimestampFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newTestKeys(t)
		r, _ := initRepo(t, k)
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		var published []File
		done := make(chan error, 1)
		go func() {
			done <- r.RunRefresher(ctx, clock.Real, []*Key{k.snapshot}, []*Key{k.timestamp}, func(f []File) error {
				for _, x := range f {
					if x.Role == "timestamp" {
						if exp := r.Expires()["timestamp"]; !exp.After(time.Now()) {
							t.Errorf("published an expired timestamp")
						}
					}
				}
				published = append(published, f...)
				return nil
			})
		}()
		for time.Since(start) < 10*24*time.Hour {
			time.Sleep(time.Hour)
			if exp := r.Expires()["timestamp"]; !exp.After(time.Now()) {
				t.Fatalf("timestamp expired at %v, now %v", exp, time.Now())
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("refresher returned %v", err)
		}
		var ts int
		for _, f := range published {
			if f.Role == "timestamp" {
				ts++
			}
		}
		if ts < 20 || ts > 22 {
			t.Errorf("%d timestamps in 10 days with a 1-day expiry re-signed at half-life", ts)
		}
	})
}
