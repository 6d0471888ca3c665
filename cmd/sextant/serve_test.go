package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/device/verify"
	"github.com/sextant-ml/sextant/server"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var secretLine = regexp.MustCompile(`(?m)^secret: (\S+)$`)

// TestServePublishDevice runs the delivery path through the CLI in-process:
// keys init, token create, serve, publish (upload + offline signing),
// models set-current/list/show; then a device registers, checks in,
// verifies both repositories with the real verifier over HTTP and
// downloads the bundle with a Range request.
func TestServePublishDevice(t *testing.T) {
	dir := t.TempDir()
	keys, data := filepath.Join(dir, "keys"), filepath.Join(dir, "data")
	t.Setenv(passphraseEnv, "correct horse battery")
	if _, err := sextant(t, "keys", "init", "--dir", keys, "--scrypt-work-factor", "10"); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite:" + filepath.Join(data, "sextant.db")
	os.MkdirAll(data, 0o755)
	token := func(scope string) string {
		out, err := sextant(t, "token", "create", "--scope", scope, "--name", "t", "--db", dsn)
		m := secretLine.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("token create: %v\n%s", err, out)
		}
		return m[1]
	}
	pub, roll, enroll := token("publish"), token("rollout"), token("enroll")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--keys", keys, "--data", data, "--listen", "127.0.0.1:0"}, &out, &errb)
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errb.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	model := filepath.Join(dir, "eta.sxm")
	writeLinear(t, model, "eta", []float32{1, 2, 3}, 0.5)
	o, err := sextant(t, "publish", model, "--server", url, "--token", pub, "--keys", keys, "--notes", "first")
	if err != nil || !strings.Contains(o, "uploaded eta@1.0.0") || !strings.Contains(o, "signed targets/eta v1") {
		t.Fatalf("publish: %v\n%s", err, o)
	}
	if o, err := sextant(t, "publish", model, "--server", url, "--token", pub, "--keys", keys); err == nil ||
		!strings.Contains(err.Error(), "does not increase") {
		t.Fatalf("republish: %v\n%s", err, o)
	}
	if _, err := sextant(t, "models", "set-current", "eta", "1.0.0", "--server", url, "--token", roll); err != nil {
		t.Fatal(err)
	}
	o, err = sextant(t, "models", "list", "--server", url, "--token", pub)
	if err != nil || !regexp.MustCompile(`eta\s+1\.0\.0\s+1\.0\.0`).MatchString(o) {
		t.Fatalf("models list: %v\n%s", err, o)
	}
	o, err = sextant(t, "models", "show", "eta", "--server", url, "--token", pub)
	if err != nil || !strings.Contains(o, "first") {
		t.Fatalf("models show: %v\n%s", err, o)
	}

	// A device.
	bctx := context.Background()
	reg, err := (&server.Client{BaseURL: url, Token: enroll}).Register(bctx, server.DeviceInfo{Class: "mid-2022"})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := (&server.Client{BaseURL: url, Token: reg.Credential}).CheckIn(bctx, reg.ID, server.CheckIn{RuntimeVersion: "0.1.0"})
	if err != nil || len(ci.Targets) != 1 {
		t.Fatalf("check-in: %+v, %v", ci, err)
	}
	imgRoot, _ := os.ReadFile(filepath.Join(keys, "metadata", "1.root.json"))
	dirRoot, _ := os.ReadFile(filepath.Join(keys, "metadata", "director", "1.root.json"))
	vc, err := verify.New(verify.Config{ImageURL: url + ci.ImageURL, DirectorURL: url + ci.DirectorURL, Device: reg.ID,
		ImageRoot: imgRoot, DirectorRoot: dirRoot},
		verify.TransportFetcher{Getter: httptransport.New(http.DefaultClient), Header: map[string]string{"Authorization": "Bearer " + reg.Credential}},
		&verify.MemStore{}, clock.Real)
	if err != nil {
		t.Fatal(err)
	}
	res, err := vc.Update(bctx)
	if err != nil || len(res.Targets) != 1 || res.Targets[0].Path != "eta/1.0.0.sxm" {
		t.Fatalf("verified %+v, %v", res, err)
	}
	bundleBytes, _ := os.ReadFile(model)
	if err := res.Targets[0].Check(int64(len(bundleBytes)), sha256.Sum256(bundleBytes)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, url+ci.Targets[0].URL, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", len(bundleBytes)-10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(tail, bundleBytes[len(bundleBytes)-10:]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(tail))
	}
}
