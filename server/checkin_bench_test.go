package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// BenchmarkCheckIn measures the hot path: an unchanged, already-seen
// device checking in through the whole handler chain (auth, rate limit,
// decision, director document, request log and metrics), in process.
func BenchmarkCheckIn(b *testing.B) {
	kd, _ := keyDir(b)
	r := start(b, "sqlite:"+filepath.Join(b.TempDir(), "s.db"), b.TempDir(), kd, func(c *Config) {
		c.DeviceRate = Rate{PerSecond: 1e9, Burst: 1e9}
		c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	})
	const devices = 1000
	ids, creds := make([]string, devices), make([]string, devices)
	for i := range devices {
		ids[i], creds[i] = fmt.Sprintf("bench-%04d", i), fmt.Sprintf("bench-secret-%04d", i)
		if _, err := r.db.RegisterDevice(context.Background(), delivery.Device{ID: ids[i], CredentialHash: delivery.HashSecret(creds[i])}); err != nil {
			b.Fatal(err)
		}
	}
	body := []byte(`{"installed":{},"runtime_version":"1.0.0","device_class":"high","os":"android 14","app_version":"5.2.0","region":"NL","locale":"nl-NL"}`)
	h := r.srv.Handler()
	do := func(i int) {
		req := httptest.NewRequest("POST", "/v1/devices/"+ids[i]+"/checkin", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+creds[i])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("check-in: %d %s", w.Code, w.Body)
		}
	}
	for i := range devices {
		do(i) // first check-ins: load, stamp, sign
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		do(i % devices)
		i++
	}
}

// BenchmarkFirstCheckIn measures a device's first check-in on a server
// that has never seen it: authenticated by its credential's MAC (no store
// lookup), its stamp queued for the batched upsert, its director document
// signed.
func BenchmarkFirstCheckIn(b *testing.B) {
	kd, _ := keyDir(b)
	r := start(b, "sqlite:"+filepath.Join(b.TempDir(), "s.db"), b.TempDir(), kd, func(c *Config) {
		c.DeviceRate = Rate{PerSecond: 1e9, Burst: 1e9}
		c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
		c.StampBatch = 100 * time.Millisecond
		c.MaxLimiterKeys = 1 << 22
	})
	creds := r.srv.sign.Director().Credentials()
	body := []byte(`{"installed":{},"runtime_version":"1.0.0","device_class":"high","os":"android 14","app_version":"5.2.0","region":"NL","locale":"nl-NL"}`)
	h := r.srv.Handler()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		id := fmt.Sprintf("first-%09d", i)
		cred, err := creds.Mint(id, [16]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest("POST", "/v1/devices/"+id+"/checkin", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cred)
		w := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("check-in: %d %s", w.Code, w.Body)
		}
	}
}
