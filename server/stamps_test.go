package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/store"
)

// TestStampBatch: with StampBatch, a check-in answers without writing its
// stamp; the flush records it within the interval, and closing the
// server flushes what is left.
func TestStampBatch(t *testing.T) { eachStore(t, testStampBatch) }

func testStampBatch(t *testing.T, dsn string) {
	kd, _ := keyDir(t)
	r := start(t, dsn, t.TempDir(), kd, func(c *Config) { c.StampBatch = time.Second })
	ctx := context.Background()
	checkIn := func(id, secret, region string) {
		t.Helper()
		req := httptest.NewRequest("POST", "/v1/devices/"+id+"/checkin",
			bytes.NewReader([]byte(`{"runtime_version":"1.0.0","region":"`+region+`"}`)))
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		r.srv.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("check-in %s: %d %s", id, w.Code, w.Body)
		}
	}
	for _, id := range []string{"a", "b"} {
		if _, err := r.db.RegisterDevice(ctx, delivery.Device{ID: id, CredentialHash: delivery.HashSecret("secret-" + id)}); err != nil {
			t.Fatal(err)
		}
	}
	checkIn("a", "secret-a", "NL")
	if d, _ := r.db.GetDevice(ctx, "a"); !d.LastCheckIn.IsZero() {
		t.Fatal("the check-in wrote its stamp on the request path")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := r.db.GetDevice(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if !d.LastCheckIn.IsZero() {
			if d.Attributes.Region != "NL" {
				t.Fatalf("flushed attributes %+v", d.Attributes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stamp not flushed within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkIn("b", "secret-b", "CH")
	r.stop() // flushes b's stamp before the store closes
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if d, err := db.GetDevice(ctx, "b"); err != nil || d.LastCheckIn.IsZero() || d.Attributes.Region != "CH" {
		t.Fatalf("after close: %+v %v", d, err)
	}
}
