package verify

// Attack tests, each named after the attack it blocks (the TUF and Uptane
// threat models), and each run again with its defence switched off through
// a hook to show the malicious bundle would then be accepted.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// accepts reports whether an update's targets include path.
func accepts(paths []string, path string) bool { return slices.Contains(paths, path) }

// TestRejectsArbitraryBundle: a man in the middle, holding no repository
// key, rewrites the director document and the model's targets to install
// a bundle of their own, signed with their own key.
func TestRejectsArbitraryBundle(t *testing.T) {
	for _, defence := range []bool{true, false} {
		s := newRepoSim(t)
		s.assign("dev-1", s.publish("next-place", "1.0.0", []byte("genuine")))
		c := s.client("dev-1")
		if _, err := update(t, c); err != nil {
			t.Fatal(err)
		}
		// The attacker builds a look-alike repository with their own keys
		// and serves its director document and model targets.
		evil := newRepoSim(t)
		evil.advance(time.Minute) // a newer-looking director document
		eb := evil.publish("next-place", "6.6.6", []byte("malicious"))
		evilDoc := evil.assign("dev-1", eb)
		s.override[simDirector+"/"+signing.DirectorTargetsPath("dev-1")] = evilDoc
		// Same version number as the genuine one the snapshot lists next.
		s.publish("next-place", "1.0.1", []byte("genuine 2"))
		role := "targets/next-place"
		genuine := s.repo.Latest()[role]
		forged := evil.repo.Latest()[role]
		forged = withVersion(t, forged, versionOf(t, genuine))
		s.override[simImage+"/"+signing.MetadataPath(role, versionOf(t, genuine))] = forged
		c.hooks.skipSignatures = !defence
		paths, err := update(t, c)
		if defence {
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("arbitrary bundle: %v %v, want ErrSignature", paths, err)
			}
			continue
		}
		if err != nil || !accepts(paths, eb.Path()) {
			t.Fatalf("defence off: %v %v, want the malicious %s accepted", paths, err, eb.Path())
		}
	}
}

// withVersion rewrites a document's signed version, keeping its (now
// invalid) signatures: what an attacker without the key can do.
func withVersion(t *testing.T, data []byte, v int64) []byte {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	var signed map[string]any
	if err := json.Unmarshal(env["signed"], &signed); err != nil {
		t.Fatal(err)
	}
	signed["version"] = v
	env["signed"], _ = json.Marshal(signed)
	out, _ := json.Marshal(env)
	return out
}

// TestRejectsRollback: an attacker replays the director document and image
// metadata from before a bad bundle was withdrawn, all validly signed and
// unexpired, to move the device back to it.
func TestRejectsRollback(t *testing.T) {
	for _, defence := range []bool{true, false} {
		s := newRepoSim(t)
		bad := s.publish("next-place", "1.0.0", []byte("vulnerable"))
		oldDoc := s.assign("dev-1", bad)
		oldTimestamp := s.image["timestamp.json"]
		c := s.client("dev-1")
		if paths, err := update(t, c); err != nil || !accepts(paths, bad.Path()) {
			t.Fatal(paths, err)
		}
		s.advance(time.Hour)
		s.revoke(bad)
		good := s.publish("next-place", "1.0.1", []byte("fixed"))
		s.assign("dev-1", good)
		if paths, err := update(t, c); err != nil || !accepts(paths, good.Path()) {
			t.Fatal(paths, err)
		}
		s.override[simDirector+"/"+signing.DirectorTargetsPath("dev-1")] = oldDoc
		s.override[simImage+"/timestamp.json"] = oldTimestamp
		c.hooks.skipRollback = !defence
		paths, err := update(t, c)
		if defence {
			if !errors.Is(err, ErrRollback) {
				t.Fatalf("rollback: %v %v, want ErrRollback", paths, err)
			}
			continue
		}
		if err != nil || !accepts(paths, bad.Path()) {
			t.Fatalf("defence off: %v %v, want the withdrawn %s accepted", paths, err, bad.Path())
		}
	}
}

// TestRejectsFreeze: an attacker keeps serving the metadata of one moment,
// so the device never learns that a newer bundle replaced its own.
func TestRejectsFreeze(t *testing.T) {
	for _, defence := range []bool{true, false} {
		s := newRepoSim(t)
		old := s.publish("next-place", "1.0.0", []byte("old"))
		s.assign("dev-1", old)
		frozen := map[string][]byte{}
		for p, d := range s.image {
			frozen[simImage+"/"+p] = d
		}
		for p, d := range s.directorFiles {
			frozen[simDirector+"/"+p] = d
		}
		c := s.client("dev-1")
		if _, err := update(t, c); err != nil {
			t.Fatal(err)
		}
		// The repository moves on; the attacker does not.
		s.advance(3 * 24 * time.Hour)
		s.refresh()
		s.assign("dev-1", s.publish("next-place", "2.0.0", []byte("new")))
		maps.Copy(s.override, frozen)
		c.hooks.skipExpiry = !defence
		paths, err := update(t, c)
		if defence {
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("freeze: %v %v, want ErrExpired", paths, err)
			}
			continue
		}
		if err != nil || !accepts(paths, old.Path()) {
			t.Fatalf("defence off: %v %v, want the frozen %s accepted", paths, err, old.Path())
		}
	}
}

// TestRecoversFromFastForward: a thief of the timestamp key signs a
// timestamp with a huge version, which devices accept; after the operator
// rotates the timestamp key, devices must accept the new, lower versions
// again rather than stay frozen.
func TestRecoversFromFastForward(t *testing.T) {
	for _, defence := range []bool{true, false} {
		s := newRepoSim(t)
		b := s.publish("next-place", "1.0.0", []byte("a"))
		s.assign("dev-1", b)
		c := s.client("dev-1")
		if _, err := update(t, c); err != nil {
			t.Fatal(err)
		}
		// Fast-forward with the stolen key.
		var ts metadata.Metadata[metadata.TimestampType]
		if _, err := ts.FromBytes(s.image["timestamp.json"]); err != nil {
			t.Fatal(err)
		}
		ts.Signed.Version = 1 << 40
		signWith(t, &ts, s.timestamp)
		s.override[simImage+"/timestamp.json"], _ = ts.ToBytes(false)
		if _, err := update(t, c); err != nil {
			t.Fatalf("fast-forwarded timestamp, validly signed: %v", err)
		}
		delete(s.override, simImage+"/timestamp.json")
		// Recovery: rotate the timestamp key; the server re-signs.
		s.rotateTimestamp()
		c.hooks.skipRotationReset = !defence
		paths, err := update(t, c)
		if defence {
			if err != nil || !accepts(paths, b.Path()) {
				t.Fatalf("after rotation: %v %v, want recovery", paths, err)
			}
			continue
		}
		if !errors.Is(err, ErrRollback) {
			t.Fatalf("defence off: %v %v, want the device stuck on the attacker's version (ErrRollback)", paths, err)
		}
	}
}

// signWith re-signs a go-tuf document with one key (an attacker holding it).
func signWith[T metadata.Roles](t *testing.T, md *metadata.Metadata[T], k *signing.Key) {
	t.Helper()
	md.ClearSignatures()
	data, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.SignerFromKeyFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.Sign(signer); err != nil {
		t.Fatal(err)
	}
}

// TestRejectsMixAndMatch: an attacker holding the director key assigns a
// withdrawn bundle and serves the model's old targets (which list it,
// validly signed) in place of the current ones: metadata that never existed
// together.
func TestRejectsMixAndMatch(t *testing.T) {
	for _, defence := range []bool{true, false} {
		s := newRepoSim(t)
		bad := s.publish("next-place", "1.0.0", []byte("withdrawn"))
		role := "targets/next-place"
		oldTargets := s.repo.Latest()[role]
		s.revoke(bad)
		s.publish("next-place", "1.0.1", []byte("current"))
		s.assign("dev-1", bad) // the compromised director
		cur := s.repo.Latest()[role]
		s.override[simImage+"/"+signing.MetadataPath(role, versionOf(t, cur))] = oldTargets
		c := s.client("dev-1")
		c.hooks.skipConsistency = !defence
		paths, err := update(t, c)
		if defence {
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("mix-and-match: %v %v, want ErrMismatch", paths, err)
			}
			continue
		}
		if err != nil || !accepts(paths, bad.Path()) {
			t.Fatalf("defence off: %v %v, want the withdrawn %s accepted", paths, err, bad.Path())
		}
	}
}

// TestRejectsEndlessData: an attacker answers a metadata request with an
// endless stream (or a huge, padded but validly signed document), to
// exhaust the device's memory, disk or data plan.
func TestRejectsEndlessData(t *testing.T) {
	t.Run("endless stream", func(t *testing.T) {
		s := newRepoSim(t)
		s.assign("dev-1")
		s.endless[simImage+"/timestamp.json"] = true
		_, err := update(t, s.client("dev-1"))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("endless timestamp: %v, want ErrTooLarge", err)
		}
		if n := s.read[simImage+"/timestamp.json"]; n > 16384+1+32*1024 {
			t.Errorf("read %d bytes of an endless timestamp", n)
		}
	})
	t.Run("padded document", func(t *testing.T) {
		for _, defence := range []bool{true, false} {
			s := newRepoSim(t)
			b := s.publish("next-place", "1.0.0", []byte("a"))
			s.assign("dev-1", b)
			// Whitespace is outside what the signature covers.
			padded := append(bytes.Repeat([]byte(" "), 8<<20), s.image["timestamp.json"]...)
			s.override[simImage+"/timestamp.json"] = padded
			c := s.client("dev-1")
			c.hooks.skipLengthLimit = !defence
			paths, err := update(t, c)
			if defence {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("8 MiB timestamp: %v %v, want ErrTooLarge", paths, err)
				}
				if n := s.read[simImage+"/timestamp.json"]; n > 16384+1+32*1024 {
					t.Errorf("read %d bytes of it", n)
				}
				continue
			}
			if err != nil || !accepts(paths, b.Path()) {
				t.Fatalf("defence off: %v %v, want the 8 MiB document accepted", paths, err)
			}
		}
	})
	t.Run("TransportFetcher", func(t *testing.T) {
		var sent int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 4096))
			for range 1 << 12 { // 16 MiB at most, so the test ends
				n, err := w.Write(chunk)
				sent += int64(n)
				if err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		_, err := TransportFetcher{Getter: httptransport.New(srv.Client())}.Fetch(context.Background(), srv.URL+"/timestamp.json", 16384)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("endless HTTP body: %v, want ErrTooLarge", err)
		}
	})
}

// TestCompromisedDirectorCannotInstallUnlisted: with the director's online
// key alone, an attacker assigns a bundle the image repository does not
// list, or lists with other bytes.
func TestCompromisedDirectorCannotInstallUnlisted(t *testing.T) {
	for _, defence := range []bool{true, false} {
		s := newRepoSim(t)
		genuine := s.publish("next-place", "1.0.0", []byte("genuine"))
		evil := signing.Bundle{Model: "next-place", Version: "6.6.6", Length: 9, SHA256: sha256.Sum256([]byte("malicious"))}
		s.assign("dev-1", evil)
		c := s.client("dev-1")
		c.hooks.skipAgreement = !defence
		paths, err := update(t, c)
		if defence {
			if !errors.Is(err, ErrNotListed) {
				t.Fatalf("unlisted bundle: %v %v, want ErrNotListed", paths, err)
			}
			// The genuine path with other bytes.
			swapped := genuine
			swapped.Length, swapped.SHA256 = evil.Length, evil.SHA256
			s.assign("dev-1", swapped)
			if paths, err := update(t, c); !errors.Is(err, ErrMismatch) {
				t.Fatalf("genuine path, other bytes: %v %v, want ErrMismatch", paths, err)
			}
			continue
		}
		if err != nil || !accepts(paths, evil.Path()) {
			t.Fatalf("defence off: %v %v, want the unlisted %s accepted", paths, err, evil.Path())
		}
	}
}

// TestRejectsDuplicateDelegation: a targets document that delegates to one
// role name twice would pair one entry's paths with the other's keys (a
// delegation is looked up by name), so it is refused as malformed.
func TestRejectsDuplicateDelegation(t *testing.T) {
	s := newRepoSim(t)
	s.assign("dev-1", s.publish("next-place", "1.0.0", []byte("good")))
	top := s.repo.Latest()["targets"]
	md, err := metadata.Targets().FromBytes(top)
	if err != nil {
		t.Fatal(err)
	}
	if md.Signed.Delegations == nil || len(md.Signed.Delegations.Roles) == 0 {
		t.Fatal("the repository's targets delegate nothing")
	}
	dup := md.Signed.Delegations.Roles[0]
	dup.Paths = []string{"*"}
	md.Signed.Delegations.Roles = append(md.Signed.Delegations.Roles, dup)
	signWith(t, md, s.targets)
	data, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	s.override[simImage+"/"+signing.MetadataPath("targets", versionOf(t, top))] = data
	c := s.client("dev-1")
	// The snapshot's length and hash of the top-level targets would refuse
	// the document first; the check under test is the one after them.
	c.hooks.skipConsistency = true
	paths, err := update(t, c)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate delegation: %v %v, want ErrMalformed", paths, err)
	}
}
