package server

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sextant-ml/sextant/delivery"
)

// TestFLRateLimit: each device's calls to the federated-learning endpoints
// are limited by FLRate, 429 with Retry-After past the burst, in a bucket
// of their own: the same device's check-ins and another device's FL calls
// still pass; a bad credential is refused before any limit.
func TestFLRateLimit(t *testing.T) {
	kd, _ := keyDir(t)
	dir := t.TempDir()
	r := start(t, "sqlite:"+filepath.Join(dir, "s.db"), dir, kd, func(c *Config) {
		c.FLRate = Rate{PerSecond: 0.001, Burst: 3}
		c.DeviceRate = Rate{PerSecond: 0.001, Burst: 2}
	})
	for _, id := range []string{"fl-a", "fl-b"} {
		if _, err := r.db.RegisterDevice(t.Context(), delivery.Device{ID: id, CredentialHash: delivery.HashSecret(id + "-secret")}); err != nil {
			t.Fatal(err)
		}
	}
	h := r.srv.Handler()
	status := func(id, secret string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/devices/"+id+"/fl/no-such-task", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for i := range 3 {
		// Within the burst the call reaches the task lookup.
		if w := status("fl-a", "fl-a-secret"); w.Code != http.StatusNotFound {
			t.Fatalf("call %d: %d, want 404 (no such task)", i, w.Code)
		}
	}
	w := status("fl-a", "fl-a-secret")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("past the burst: %d (Retry-After %q), want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if w := status("fl-a", "wrong-secret"); w.Code != http.StatusUnauthorized {
		t.Fatalf("bad credential: %d, want 401", w.Code)
	}
	if w := status("fl-b", "fl-b-secret"); w.Code != http.StatusNotFound {
		t.Fatalf("another device: %d, want 404", w.Code)
	}
	if c := checkInVia(h, "fl-a", "fl-a-secret"); c != http.StatusOK {
		t.Fatalf("the limited device's check-in: %d, want 200 (its own bucket)", c)
	}
}
