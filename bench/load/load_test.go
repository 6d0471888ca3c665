package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
)

// fakeServer answers check-ins of generated devices (checking the
// credential against the path, as the real server does) and serves a
// histogram of them on /metrics.
func fakeServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			c := n.Load()
			fmt.Fprintf(w, "# TYPE sextant_http_request_duration_seconds histogram\n")
			fmt.Fprintf(w, "sextant_http_request_duration_seconds_bucket{route=%q,le=\"0.001\"} %d\n", CheckInRoute, c*9/10)
			fmt.Fprintf(w, "sextant_http_request_duration_seconds_bucket{route=%q,le=\"0.005\"} %d\n", CheckInRoute, c)
			fmt.Fprintf(w, "sextant_http_request_duration_seconds_bucket{route=%q,le=\"+Inf\"} %d\n", CheckInRoute, c)
			fmt.Fprintf(w, "sextant_http_request_duration_seconds_bucket{route=\"other\",le=\"+Inf\"} 7\n")
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/devices/"), "/checkin")
		var num int
		if _, err := fmt.Sscanf(id, "load-%d", &num); err != nil || r.Header.Get("Authorization") != "Bearer "+DeviceSecret(num) {
			http.Error(w, "bad credential", http.StatusUnauthorized)
			return
		}
		n.Add(1)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestRunBoundedByCount: a closed-loop run sends exactly -requests
// check-ins, all answered, and reads the server's histogram delta.
func TestRunBoundedByCount(t *testing.T) {
	srv, served := fakeServer(t)
	res, err := Run(t.Context(), Config{URL: srv.URL, Devices: 7, Concurrency: 4, Requests: 1000, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1000 || res.OK != 1000 || served.Load() != 1000 || len(res.Status) != 0 {
		t.Fatalf("sent %d ok %d served %d status %v", res.Sent, res.OK, served.Load(), res.Status)
	}
	if res.Server == nil || res.Server.Total() != 1000 {
		t.Fatalf("server histogram %+v", res.Server)
	}
	if res.Dials != 4 {
		t.Fatalf("%d connections opened for 4 workers on a keep-alive server", res.Dials)
	}
	if q := res.Server.Quantile(.5); math.Abs(q-0.001*500/900) > 1e-9 {
		t.Fatalf("server p50 %v", q)
	}
	if res.Quantile(.5) <= 0 || res.Quantile(1) < res.Quantile(.99) {
		t.Fatalf("client quantiles %v %v", res.Quantile(.5), res.Quantile(1))
	}
}

// TestRunBoundedByTime: a run with more requests than fit in its
// duration stops at the deadline, open loop too, and counts refusals.
func TestRunBoundedByTime(t *testing.T) {
	srv, _ := fakeServer(t)
	res, err := Run(t.Context(), Config{URL: srv.URL, Devices: 3, Concurrency: 2, Requests: 1 << 30, Duration: 200 * time.Millisecond, Rate: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK == 0 || res.Sent >= 1<<30 || res.Sent > 200 {
		t.Fatalf("open loop at 500/s for 0.2 s sent %d (ok %d)", res.Sent, res.OK)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer bad.Close()
	res, err = Run(t.Context(), Config{URL: bad.URL, Devices: 1, Concurrency: 1, Requests: 10, Duration: time.Minute})
	if err != nil || res.OK != 0 || res.Status[http.StatusTooManyRequests] != 10 {
		t.Fatalf("refusals: %+v %v", res, err)
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := &Histogram{Bounds: []float64{0.001, 0.002, math.Inf(1)}, Counts: []float64{50, 100, 100}}
	for q, want := range map[float64]float64{0.25: 0.0005, 0.5: 0.001, 0.75: 0.0015, 1: 0.002} {
		if got := h.Quantile(q); math.Abs(got-want) > 1e-12 {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	h.Counts = []float64{0, 0, 10}
	if !math.IsInf(h.Quantile(.5), 1) {
		t.Error("a quantile in the +Inf bucket is not +Inf")
	}
}

// TestSeedCredentials: generated rows carry the hash the server computes
// for the generated secret (delivery.HashSecret), so they authenticate.
func TestSeedCredentials(t *testing.T) {
	base := os.Getenv("SEXTANT_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set SEXTANT_TEST_POSTGRES): %v", err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	rand.Read(b[:])
	schema := "sx_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema+"; CREATE TABLE "+schema+`.devices (
		id TEXT PRIMARY KEY, credential_hash TEXT NOT NULL UNIQUE, attributes TEXT NOT NULL DEFAULT '{}',
		registered_us BIGINT NOT NULL, last_checkin_us BIGINT NOT NULL DEFAULT 0)`); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	dsn := base + "&search_path=" + schema
	for range 2 { // the second run adds nothing
		if _, err := Seed(ctx, dsn, 1000); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var hash string
	admin.QueryRow(ctx, "SELECT count(*) FROM "+schema+".devices").Scan(&n)
	admin.QueryRow(ctx, "SELECT credential_hash FROM "+schema+".devices WHERE id = $1", DeviceID(777)).Scan(&hash)
	if n != 1000 || hash != delivery.HashSecret(DeviceSecret(777)) {
		t.Fatalf("%d rows; device 777 hash %s, want %s", n, hash, delivery.HashSecret(DeviceSecret(777)))
	}

	// Minted credentials: 500 more devices, the first 1000 kept.
	secret := testMinted(t)
	if added, err := SeedSecrets(ctx, dsn, 1500, secret); err != nil || added != 500 {
		t.Fatalf("seeded %d minted devices (%v), want 500", added, err)
	}
	admin.QueryRow(ctx, "SELECT credential_hash FROM "+schema+".devices WHERE id = $1", DeviceID(1234)).Scan(&hash)
	if hash != delivery.HashSecret(secret(1234)) {
		t.Fatalf("device 1234 hash %s, want the minted credential's", hash)
	}
}

func testMinted(t *testing.T) func(int) string {
	t.Helper()
	k, err := signing.GenerateKey("director", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signing.NewDeviceCredentials(k)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := MintedSecrets(c, 1001, 100)
	if err != nil {
		t.Fatal(err)
	}
	return func(n int) string {
		s := secret(n)
		if dev, ok := c.Verify(s); !ok || dev != DeviceID(n) {
			t.Fatalf("device %d: credential %q does not verify as %s", n, s, DeviceID(n))
		}
		return s
	}
}

// TestMintedSecretsStable: a minted credential is the same whether made up
// front or on the fly, and verifies as its device.
func TestMintedSecretsStable(t *testing.T) {
	k, err := signing.GenerateKey("director", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := signing.NewDeviceCredentials(k)
	pre, err := MintedSecrets(c, 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	lazy, _ := MintedSecrets(c, 1000, 0)
	for n := 8; n < 17; n++ {
		if pre(n) != lazy(n) {
			t.Fatalf("device %d: %q up front, %q on the fly", n, pre(n), lazy(n))
		}
		if dev, ok := c.Verify(pre(n)); !ok || dev != DeviceID(n) {
			t.Fatalf("device %d: does not verify", n)
		}
	}
	if pre(10) == pre(11) {
		t.Fatal("two devices share a credential")
	}
}

// TestProcessCPU: this process's CPU time is readable and grows with work.
func TestProcessCPU(t *testing.T) {
	a, err := processCPU(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	x := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	b, err := processCPU(os.Getpid())
	if err != nil || b <= a {
		t.Fatalf("CPU %v then %v (%v) after busy work %d", a, b, err, x)
	}
}

// TestRunCountsConnections: a server that closes the connection after
// every answer makes the generator re-dial, and the result says so — the
// sign of keep-alive lost on some path.
func TestRunCountsConnections(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	res, err := Run(t.Context(), Config{URL: srv.URL, Devices: 5, Concurrency: 2, Requests: 50, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 50 || res.Dials != 50 {
		t.Fatalf("%d answered over %d connections, want 50 over 50", res.OK, res.Dials)
	}
}

// TestProcessRunDelay: this process's run-queue wait is readable and
// never decreases.
func TestProcessRunDelay(t *testing.T) {
	a, err := processRunDelay(os.Getpid())
	if err != nil {
		t.Skipf("no /proc schedstat: %v", err)
	}
	runtime.Gosched()
	b, err := processRunDelay(os.Getpid())
	if err != nil || b < a {
		t.Fatalf("run delay %v then %v (%v)", a, b, err)
	}
	if _, err := processRunDelay(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
