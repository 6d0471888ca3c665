package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
)

// TestCheckInsKeepTheConnection: every kind of check-in — a device first
// seen by its credential's MAC (no row yet, stamped in a batch), one
// looked up by its credential's hash, a cached one, and a refused
// credential — is answered with a Content-Length on a connection the
// server keeps open, so a load generator or a device's client opens one
// connection for them all. A response that closed the connection or was
// delimited by it would cost a TCP handshake per check-in.
func TestCheckInsKeepTheConnection(t *testing.T) {
	eachStore(t, func(t *testing.T, dsn string) {
		kd, _ := keyDir(t)
		r := start(t, dsn, t.TempDir(), kd, func(c *Config) {
			c.DeviceRate = Rate{PerSecond: 1e6, Burst: 1e6}
			c.StampBatch = 20 * time.Millisecond
		})
		// Devices registered the old way: found by the store lookup.
		const n = 20
		for i := range n {
			if _, err := r.db.RegisterDevice(t.Context(), delivery.Device{ID: fmt.Sprintf("ka-row-%02d", i),
				CredentialHash: delivery.HashSecret(fmt.Sprintf("ka-secret-%02d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		var dials atomic.Int64
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 1,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}}}
		defer client.CloseIdleConnections()
		checkIn := func(id, secret string) int {
			t.Helper()
			req, _ := http.NewRequestWithContext(t.Context(), "POST", r.url+"/v1/devices/"+id+"/checkin", bytes.NewReader(checkInBody))
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.Close || resp.ContentLength < 0 {
				t.Fatalf("check-in of %s (%d): connection close %v, Content-Length %d", id, resp.StatusCode, resp.Close, resp.ContentLength)
			}
			return resp.StatusCode
		}
		sign := r.srv.sign.Director().Credentials()
		minted := make([]string, n)
		for i := range n {
			var nonce [16]byte
			rand.Read(nonce[:])
			var err error
			if minted[i], err = sign.Mint(fmt.Sprintf("ka-mac-%02d", i), nonce); err != nil {
				t.Fatal(err)
			}
		}
		for pass := range 2 { // first check-ins, then cached ones
			for i := range n {
				if c := checkIn(fmt.Sprintf("ka-mac-%02d", i), minted[i]); c != http.StatusOK {
					t.Fatalf("pass %d: check-in of a device known by its MAC: %d", pass, c)
				}
				if c := checkIn(fmt.Sprintf("ka-row-%02d", i), fmt.Sprintf("ka-secret-%02d", i)); c != http.StatusOK {
					t.Fatalf("pass %d: check-in of a device known by its row: %d", pass, c)
				}
			}
		}
		if c := checkIn("ka-mac-00", "not-a-credential"); c != http.StatusUnauthorized {
			t.Fatalf("unknown credential: %d, want 401", c)
		}
		if c := checkIn("ka-mac-01", minted[1]); c != http.StatusOK {
			t.Fatalf("check-in after a refusal: %d", c)
		}
		if d := dials.Load(); d != 1 {
			t.Fatalf("%d check-ins opened %d connections, want 1", 4*n+2, d)
		}
	})
}
