package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/sextant-ml/sextant/delivery/signing"
)

// TestKeysInitRotateShow creates a key directory, rotates the timestamp and
// root keys, and checks the roots chain (old root vouches for new, as go-tuf
// verifies it) and what show prints.
func TestKeysInitRotateShow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--dir", dir, "--passphrase-file", pass, "--scrypt-work-factor", "10"}
	out, err := sextant(t, append([]string{"keys", "init"}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			ids[f[0]] = f[1]
		}
	}
	for _, role := range []string{"root", "targets", "snapshot", "timestamp", "director"} {
		if len(ids[role]) != 64 {
			t.Fatalf("init printed no %s key ID:\n%s", role, out)
		}
	}
	for _, p := range []string{"root.key.age", "targets.key.age", "online/snapshot.key", "online/timestamp.key", "online/director.key",
		"metadata/1.root.json", "metadata/1.targets.json", "metadata/director/1.root.json"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("init did not write %s: %v", p, err)
		}
	}
	if _, err := sextant(t, append([]string{"keys", "init"}, common...)...); err == nil {
		t.Error("init over an existing key directory succeeded")
	}

	if _, err := sextant(t, append([]string{"keys", "rotate", "--role", "timestamp"}, common...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := sextant(t, append([]string{"keys", "rotate", "--role", "root"}, common...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := sextant(t, append([]string{"keys", "rotate", "--role", "director"}, common...)...); err != nil {
		t.Fatal(err)
	}
	for _, chain := range []struct {
		dir  string
		last int
	}{{"metadata", 3}, {"metadata/director", 3}} {
		prev := readRoot(t, filepath.Join(dir, chain.dir, "1.root.json"))
		for v := 2; v <= chain.last; v++ {
			next := readRoot(t, filepath.Join(dir, chain.dir, signing.MetadataPath("root", int64(v))))
			if err := prev.VerifyDelegate("root", next); err != nil {
				t.Errorf("%s: root v%d does not vouch for v%d: %v", chain.dir, v-1, v, err)
			}
			if err := next.VerifyDelegate("root", next); err != nil {
				t.Errorf("%s: root v%d not self-signed: %v", chain.dir, v, err)
			}
			prev = next
		}
	}

	show, err := sextant(t, "keys", "show", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"image repository: root v3", "director repository: root v3", ids["targets"], ids["snapshot"], "targets v1 expires"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	for _, gone := range []string{ids["timestamp"], ids["root"], ids["director"]} {
		if strings.Contains(show, gone) {
			t.Errorf("show still lists rotated key %s:\n%s", gone, show)
		}
	}

	// The wrong passphrase opens nothing.
	if err := os.WriteFile(pass, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sextant(t, append([]string{"keys", "rotate", "--role", "targets"}, common...)...); err == nil {
		t.Error("rotate with the wrong passphrase succeeded")
	}
}

func readRoot(t *testing.T, path string) *metadata.Metadata[metadata.RootType] {
	t.Helper()
	r, err := metadata.Root().FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
