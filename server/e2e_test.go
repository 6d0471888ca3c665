package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/clock"
	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/device/transport/httptransport"
	"github.com/sextant-ml/sextant/device/verify"
)

// device is a test device: its registration and its verifier, whose
// trusted state (a MemStore) survives server restarts.
type device struct {
	reg    Registration
	trust  *verify.MemStore
	kd     signing.KeyDir
	client *Client
}

func enrol(t *testing.T, r *running, kd signing.KeyDir, enrollSecret string) *device {
	t.Helper()
	reg, err := r.client(enrollSecret).Register(context.Background(), DeviceInfo{Class: "mid-2022", OS: "android 14"})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return &device{reg: reg, trust: &verify.MemStore{}, kd: kd, client: r.client(reg.Credential)}
}

var manifest = CheckIn{Installed: map[string]string{}, RuntimeVersion: "0.1.0", Ops: []string{"Mul", "Add"},
	DeviceInfo: DeviceInfo{Class: "mid-2022", OS: "android 14", Region: "CH", Locale: "de-CH"}}

// update checks in and runs the real device verifier over HTTP against the
// server: it returns the bundles both repositories vouch for.
func (d *device) update(t *testing.T, base string) (CheckInResponse, *verify.Result) {
	t.Helper()
	ctx := context.Background()
	d.client.BaseURL = base
	ci, err := d.client.CheckIn(ctx, d.reg.ID, manifest)
	if err != nil {
		t.Fatalf("check-in: %v", err)
	}
	imgRoot, err := os.ReadFile(filepath.Join(d.kd.MetadataDir(), "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	dirRoot, err := os.ReadFile(filepath.Join(d.kd.DirectorMetadataDir(), "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := verify.New(verify.Config{
		ImageURL: base + ci.ImageURL, DirectorURL: base + ci.DirectorURL, Device: d.reg.ID,
		ImageRoot: imgRoot, DirectorRoot: dirRoot,
	}, verify.TransportFetcher{Getter: httptransport.New(http.DefaultClient),
		Header: map[string]string{"Authorization": "Bearer " + d.reg.Credential}}, d.trust, clock.Real)
	if err != nil {
		t.Fatal(err)
	}
	res, err := vc.Update(ctx)
	if err != nil {
		t.Fatalf("device verifier refuses the server's metadata: %v", err)
	}
	return ci, res
}

// fetchRange downloads bytes [from, to] of a blob with a Range request.
func fetchRange(t *testing.T, url string, from, to int64) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("range request: status %d", resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("blob Cache-Control %q", cc)
	}
	b, _ := io.ReadAll(resp.Body)
	return b
}

// TestEndToEnd: publish → sign → set current → a device registers, checks
// in, verifies both repositories with the real device verifier over HTTP,
// and downloads the bundle with Range requests; then a second version; then
// a restart of server and store loses nothing.
func TestEndToEnd(t *testing.T) {
	eachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		kd, tk := keyDir(t)
		state := t.TempDir()
		r := start(t, dsn, state, kd, nil)
		pubTok, pub := r.token(t, delivery.ScopePublish)
		_, roll := r.token(t, delivery.ScopeRollout)
		_, enroll := r.token(t, delivery.ScopeEnroll)

		p1, data1 := testBundle(t, t.TempDir(), "eta", "1.0.0", "", 70_000)
		got := publish(t, r.client(pub), kd, tk, p1, "eta")
		if got.Version.Lineage.DataSnapshot != "sha256:feed" || got.Version.PublishedBy != pubTok.ID ||
			got.Version.Lineage.Privacy == nil || got.Version.Lineage.Privacy.Epsilon != 2 {
			t.Fatalf("published version %+v", got.Version)
		}
		// A version that does not increase is refused with its own code.
		_, err := r.client(pub).Publish(ctx, "eta", bytes.NewReader(data1), int64(len(data1)), sha256.Sum256(data1), "")
		if code(err) != "version_not_increasing" || httpStatus(err) != http.StatusConflict || !errors.Is(err, delivery.ErrVersionNotIncreasing) {
			t.Fatalf("republish: %v (code %q)", err, code(err))
		}
		if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.0.0"); err != nil {
			t.Fatal(err)
		}

		dev := enrol(t, r, kd, enroll)
		ci, res := dev.update(t, r.url)
		if len(ci.Targets) != 1 || len(res.Targets) != 1 || res.Targets[0].Version != "1.0.0" || res.Targets[0].Length != int64(len(data1)) {
			t.Fatalf("check-in %+v, verified %+v", ci.Targets, res.Targets)
		}
		blobURL := r.url + ci.Targets[0].URL
		part := fetchRange(t, blobURL, 100, 4195)
		if !bytes.Equal(part, data1[100:4196]) {
			t.Fatal("range download differs from the bundle")
		}
		if err := res.Targets[0].Check(int64(len(data1)), sha256.Sum256(data1)); err != nil {
			t.Fatal(err)
		}

		// An unchanged check-in re-uses the signed document.
		signed := r.srv.sign.Director().Signed()
		dev.update(t, r.url)
		if n := r.srv.sign.Director().Signed(); n != signed {
			t.Errorf("an unchanged check-in signed %d new director documents", n-signed)
		}

		p2, data2 := testBundle(t, t.TempDir(), "eta", "1.1.0", "1.0.0", 50_000)
		publish(t, r.client(pub), kd, tk, p2, "eta")
		if _, err := r.client(roll).SetCurrent(ctx, "eta", "1.1.0"); err != nil {
			t.Fatal(err)
		}
		ci, res = dev.update(t, r.url)
		if len(res.Targets) != 1 || res.Targets[0].Version != "1.1.0" || res.Targets[0].Check(int64(len(data2)), sha256.Sum256(data2)) != nil {
			t.Fatalf("after 1.1.0: %+v", res.Targets)
		}
		if lin, err := r.client(pub).Lineage(ctx, "eta", "1.1.0"); err != nil || len(lin) != 2 || lin[1].Version != "1.0.0" {
			t.Fatalf("lineage %+v, %v", lin, err)
		}

		// Restart: close server and store, reopen the same database, blob
		// and metadata directories and key directory.
		r.stop()
		// signing.Director numbers documents by the signing time in Unix
		// milliseconds and keeps no state across restarts, so a restart
		// within the millisecond of the last document would roll the device
		// back: make sure it has passed.
		for time.Now().UnixMilli() <= ci.Director.Version {
			time.Sleep(50 * time.Millisecond)
		}
		r2 := start(t, dsn, state, kd, nil)
		m, err := r2.client(pub).Model(ctx, "eta")
		if err != nil || m.Model.Current != "1.1.0" || len(m.Versions) != 2 {
			t.Fatalf("after restart: %+v, %v", m, err)
		}
		ci, res = dev.update(t, r2.url) // same credential, same trusted state
		if len(res.Targets) != 1 || res.Targets[0].Version != "1.1.0" {
			t.Fatalf("after restart verified %+v", res.Targets)
		}
		if !bytes.Equal(fetchRange(t, r2.url+ci.Targets[0].URL, 0, 99), data2[:100]) {
			t.Fatal("blob lost in restart")
		}
		// A third version signs on top of the restarted server's metadata.
		p3, _ := testBundle(t, t.TempDir(), "eta", "1.2.0", "1.1.0", 1000)
		publish(t, r2.client(pub), kd, tk, p3, "eta")
		if v, err := r2.client(pub).Version(ctx, "eta", "1.2.0"); err != nil || !v.Signed || countKind(v.Artifacts, delivery.KindBundle) != 1 {
			t.Fatalf("version 1.2.0: %+v, %v", v, err)
		}

		// Every admin call was audited, by token ID.
		events, err := r2.client(pub).Audit(ctx, delivery.AuditQuery{What: "publish"})
		if err != nil {
			t.Fatal(err)
		}
		var ok, refused int
		for _, e := range events {
			if e.Who != pubTok.ID {
				t.Errorf("publish audited as %q", e.Who)
			}
			switch {
			case strings.Contains(string(e.Details), `"ok"`):
				ok++
			case strings.Contains(string(e.Details), "version_not_increasing"):
				refused++
			}
		}
		if ok != 3 || refused != 1 {
			t.Errorf("audit has %d successful and %d refused publishes, want 3 and 1: %+v", ok, refused, events)
		}
		if ev, _ := r2.client(pub).Audit(ctx, delivery.AuditQuery{What: "set-current"}); len(ev) != 2 || ev[0].Target != "eta@1.1.0" {
			t.Errorf("set-current audit %+v", ev)
		}
		// Logs name routes, never a device.
		for _, l := range []string{r.logs.String(), r2.logs.String()} {
			if strings.Contains(l, dev.reg.ID) || strings.Contains(l, "127.0.0.1") {
				t.Fatal("request log holds a device identifier or an address")
			}
		}
	})
}
