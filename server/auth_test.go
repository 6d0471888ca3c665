package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

func sqliteDSN(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "s.db") }

// TestAuthFailures: no token, unknown, revoked → 401; wrong scope → 403;
// each with its JSON error code.
func TestAuthFailures(t *testing.T) {
	ctx := context.Background()
	kd, _ := keyDir(t)
	r := start(t, sqliteDSN(t), t.TempDir(), kd, nil)
	readTok, read := r.token(t, delivery.ScopeRead)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	revTok, revoked := r.token(t, delivery.ScopePublish)
	if err := r.db.RevokeToken(ctx, revTok.ID); err != nil {
		t.Fatal(err)
	}
	_, data := testBundle(t, t.TempDir(), "eta", "1.0.0", "", 10)
	pub := func(tok string) error {
		_, err := r.client(tok).Publish(ctx, "eta", bytes.NewReader(data), int64(len(data)), sha256.Sum256(data), "")
		return err
	}
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
		kind   error
	}{
		{"no token", pub(""), 401, "unauthorized", delivery.ErrUnauthorized},
		{"unknown token", pub("sxt_nope"), 401, "unauthorized", delivery.ErrUnauthorized},
		{"revoked token", pub(revoked), 401, "unauthorized", delivery.ErrUnauthorized},
		{"read token publishes", pub(read), 403, "forbidden", delivery.ErrForbidden},
		{"enroll token reads", func() error { _, err := r.client(enroll).ListModels(ctx); return err }(), 403, "forbidden", delivery.ErrForbidden},
		{"read token enrols", func() error { _, err := r.client(read).Register(ctx, DeviceInfo{}); return err }(), 403, "forbidden", delivery.ErrForbidden},
		{"read token sets current", func() error { _, err := r.client(read).SetCurrent(ctx, "eta", "1.0.0"); return err }(), 403, "forbidden", delivery.ErrForbidden},
	} {
		if httpStatus(c.err) != c.status || code(c.err) != c.code || !errors.Is(c.err, c.kind) {
			t.Errorf("%s: %v (status %d, code %q), want %d %s", c.name, c.err, httpStatus(c.err), code(c.err), c.status, c.code)
		}
	}
	// Devices: an unknown credential is 401, another device's is 403.
	a, err := r.client(enroll).Register(ctx, DeviceInfo{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.client(enroll).Register(ctx, DeviceInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.client("bogus").CheckIn(ctx, a.ID, CheckIn{}); httpStatus(err) != 401 {
		t.Errorf("unknown credential: %v", err)
	}
	if _, err := r.client(b.Credential).CheckIn(ctx, a.ID, CheckIn{}); httpStatus(err) != 403 {
		t.Errorf("another device's credential: %v", err)
	}
	if _, err := r.client(a.Credential).CheckIn(ctx, a.ID, CheckIn{}); err != nil {
		t.Errorf("own credential: %v", err)
	}
	// The raw answer is JSON with a WWW-Authenticate challenge.
	resp, err := http.Get(r.url + "/v1/admin/models")
	if err != nil {
		t.Fatal(err)
	}
	var body errorBody
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 401 || body.Code != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("raw 401: %d %+v", resp.StatusCode, body)
	}
	// The forbidden attempt was audited under the read token.
	ev, err := r.client(read).Audit(ctx, delivery.AuditQuery{Who: readTok.ID, What: "publish"})
	if err != nil || len(ev) != 1 || !strings.Contains(string(ev[0].Details), "forbidden") {
		t.Errorf("forbidden publish audit: %+v, %v", ev, err)
	}
}

// TestRateLimits: per token and per device, 429 with Retry-After once the
// bucket is empty; another token is unaffected.
func TestRateLimits(t *testing.T) {
	ctx := context.Background()
	kd, _ := keyDir(t)
	slow := Rate{PerSecond: 0.001, Burst: 3}
	r := start(t, sqliteDSN(t), t.TempDir(), kd, func(c *Config) { c.TokenRate, c.DeviceRate = slow, slow })
	_, read := r.token(t, delivery.ScopeRead)
	_, other := r.token(t, delivery.ScopeRead)
	_, enroll := r.token(t, delivery.ScopeEnroll)
	for i := range 3 {
		if _, err := r.client(read).ListModels(ctx); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := r.client(read).ListModels(ctx)
	if httpStatus(err) != http.StatusTooManyRequests || code(err) != "rate_limited" {
		t.Fatalf("4th call: %v", err)
	}
	if _, err := r.client(other).ListModels(ctx); err != nil {
		t.Fatalf("another token: %v", err)
	}
	dev, err := r.client(enroll).Register(ctx, DeviceInfo{})
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for range 4 {
		_, last = r.client(dev.Credential).CheckIn(ctx, dev.ID, CheckIn{})
	}
	if code(last) != "rate_limited" {
		t.Fatalf("4th check-in: %v", last)
	}
	req, _ := http.NewRequest(http.MethodGet, r.url+"/v1/admin/models", nil)
	req.Header.Set("Authorization", "Bearer "+read)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %d", resp.StatusCode)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}
func (f *fakeClock) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }
func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.advance(d)
	return ctx.Err()
}
func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.advance(d)
	c <- f.Now()
	return c
}

// TestLimiterRefillsAndStaysBounded: tokens refill at the rate; the map
// never holds more than its bound, evicting idle buckets first.
func TestLimiterRefillsAndStaysBounded(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	l := newLimiter(Rate{PerSecond: 2, Burst: 2}, clk, 100)
	for range 2 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatal("burst refused")
		}
	}
	ok, wait := l.allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("empty bucket: ok=%v wait=%v", ok, wait)
	}
	clk.advance(500 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("no refill after 0.5 s at 2/s")
	}
	for i := range 1000 {
		l.allow(string(rune('b' + i)))
	}
	if n := l.size(); n > 100 {
		t.Fatalf("limiter holds %d keys, bound 100", n)
	}
	// A busy key survives eviction of idle ones.
	l2 := newLimiter(Rate{PerSecond: 0.001, Burst: 1}, clk, 10)
	l2.allow("busy")
	for i := range 50 {
		k := string(rune('A' + i))
		l2.allow(k)
		clk.advance(time.Hour * 2) // every other key refills: idle
	}
	if l2.size() > 10 {
		t.Fatalf("bound broken: %d", l2.size())
	}
}

// TestPublishRefusals: a digest that does not match is an integrity error
// (422), a bundle of another model or a non-bundle is invalid (400), and a
// published but unsigned version cannot become current (409).
func TestPublishRefusals(t *testing.T) {
	ctx := context.Background()
	kd, _ := keyDir(t)
	r := start(t, sqliteDSN(t), t.TempDir(), kd, nil)
	_, pub := r.token(t, delivery.ScopePublish)
	_, roll := r.token(t, delivery.ScopeRollout)
	_, data := testBundle(t, t.TempDir(), "eta", "1.0.0", "", 100)
	c := r.client(pub)
	_, err := c.Publish(ctx, "eta", bytes.NewReader(data), int64(len(data)), sha256.Sum256([]byte("other")), "")
	if httpStatus(err) != 422 || !errors.Is(err, delivery.ErrIntegrity) {
		t.Errorf("wrong digest: %v", err)
	}
	_, err = c.Publish(ctx, "next-place", bytes.NewReader(data), int64(len(data)), sha256.Sum256(data), "")
	if httpStatus(err) != 400 || !strings.Contains(err.Error(), `"eta"`) {
		t.Errorf("other model's bundle: %v", err)
	}
	junk := bytes.Repeat([]byte("x"), 500)
	_, err = c.Publish(ctx, "eta", bytes.NewReader(junk), 500, sha256.Sum256(junk), "")
	if httpStatus(err) != 400 || strings.Contains(err.Error(), "/") {
		t.Errorf("not a bundle (message must not leak paths): %v", err)
	}
	if _, err := c.Publish(ctx, "eta", bytes.NewReader(data), int64(len(data)), sha256.Sum256(data), ""); err != nil {
		t.Fatal(err)
	}
	_, err = r.client(roll).SetCurrent(ctx, "eta", "1.0.0")
	if httpStatus(err) != 409 || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("unsigned current: %v", err)
	}
	if _, err := r.client(roll).SetCurrent(ctx, "eta", "9.9.9"); httpStatus(err) != 404 {
		t.Errorf("unknown version: %v", err)
	}
}

// TestMetadataUploadRefusals: a replayed upload and one signed by a key
// the root does not name are refused and change nothing.
func TestMetadataUploadRefusals(t *testing.T) {
	ctx := context.Background()
	kd, tk := keyDir(t)
	r := start(t, sqliteDSN(t), t.TempDir(), kd, nil)
	_, pub := r.token(t, delivery.ScopePublish)
	path, _ := testBundle(t, t.TempDir(), "eta", "1.0.0", "", 100)
	publish(t, r.client(pub), kd, tk, path, "eta")
	before, _ := r.client(pub).Metadata(ctx)

	// A targets key the root does not name.
	_, rogueTK := keyDir(t)
	p, _ := r.client(pub).Version(ctx, "eta", "1.0.0")
	tgt := BundleTarget{Model: "eta", Version: "1.0.0", SHA256: p.Version.SHA256, Length: p.Version.Length}
	root, _ := os.ReadFile(filepath.Join(kd.MetadataDir(), "1.root.json"))
	_, err := r.client(pub).SignAndUpload(ctx, root, tgt, []*signing.Key{rogueTK}, time.Now())
	if err == nil {
		t.Fatal("a rogue targets key signed an accepted upload")
	}
	after, _ := r.client(pub).Metadata(ctx)
	if !bytes.Equal(before["targets/eta"], after["targets/eta"]) {
		t.Fatal("a refused upload changed the repository")
	}
	// Raw replay of the current delegation: version does not follow.
	_, err = r.client(pub).UploadMetadata(ctx, []signing.File{{Role: "targets/eta", Data: after["targets/eta"]}})
	if httpStatus(err) != 409 {
		t.Errorf("replayed delegation: %v", err)
	}
	_, err = r.client(pub).UploadMetadata(ctx, []signing.File{{Role: "snapshot", Data: after["snapshot"]}})
	if httpStatus(err) != 400 {
		t.Errorf("uploading an online role: %v", err)
	}
}

// TestMetricsAndHealth: /healthz answers; /metrics shows per-route counts
// from this server's own registry.
func TestMetricsAndHealth(t *testing.T) {
	kd, _ := keyDir(t)
	r := start(t, sqliteDSN(t), t.TempDir(), kd, nil)
	for range 3 {
		resp, err := http.Get(r.url + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v", err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(r.url + "/v1/image/timestamp.json")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
		t.Fatalf("timestamp: %v %v", resp, err)
	}
	etag := resp.Header.Get("ETag")
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, r.url+"/v1/image/timestamp.json", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional timestamp: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	resp, err = http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `sextant_http_requests_total{code="200",route="GET /healthz"} 3`) ||
		!strings.Contains(string(b), `sextant_http_requests_total{code="304",route="GET /v1/image/{file}"} 1`) {
		t.Fatalf("metrics:\n%s", b)
	}
}
