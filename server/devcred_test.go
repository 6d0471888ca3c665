package server

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/signing"
	"github.com/sextant-ml/sextant/store"
)

// TestFirstCheckInSkipsTheStore: a registered device checking in on a
// server that has never seen it is authenticated by its credential's MAC,
// with no database lookup; its check-in reaches the store through the
// batched stamp (or at once, unbatched).
func TestFirstCheckInSkipsTheStore(t *testing.T) {
	eachStore(t, func(t *testing.T, dsn string) {
		for _, batch := range []time.Duration{20 * time.Millisecond, 0} {
			t.Run("stamp batch "+batch.String(), func(t *testing.T) {
				kd, _ := keyDir(t)
				dir := t.TempDir()
				tune := func(c *Config) { c.DeviceRate = Rate{PerSecond: 1e6, Burst: 1e6}; c.StampBatch = batch }
				r := start(t, dsn, dir, kd, tune)
				_, enroll := r.token(t, delivery.ScopeEnroll)
				reg, err := r.client(enroll).Register(t.Context(), DeviceInfo{Class: "low"})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(reg.Credential, "sxd1.") {
					t.Fatalf("credential %q is not a self-proving one", reg.Credential)
				}
				r.stop()

				// Another server (a restart, another replica): the device is
				// not in its cache.
				r2 := start(t, dsn, dir, kd, tune)
				if c := checkInVia(r2.srv.Handler(), reg.ID, reg.Credential); c != http.StatusOK {
					t.Fatalf("first check-in: %d", c)
				}
				if q := r2.srv.loader.queries.Load(); q != 0 {
					t.Fatalf("the first check-in looked the device up (%d queries)", q)
				}
				if c := checkInVia(r2.srv.Handler(), "d-someone-else", reg.Credential); c != http.StatusForbidden {
					t.Fatalf("credential on another device's path: %d, want 403", c)
				}
				r2.stop() // flushes the batched stamps

				db, err := store.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				d, err := db.GetDevice(t.Context(), reg.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d.Attributes.Class != "high" || d.LastCheckIn.IsZero() || d.CredentialHash != delivery.HashSecret(reg.Credential) {
					t.Fatalf("device after its check-in: %+v", d)
				}
			})
		}
	})
}

// TestLostRegistrationRecreatedAtCheckIn: a device whose credential proves
// it but whose row is missing (its registration's write lost, or enrolled
// by credential alone) is answered, and its row is written with its
// credential's hash — the guarantee behind not waiting for the store on a
// first check-in. Credentials of another deployment's key, and random
// ones, are refused.
func TestLostRegistrationRecreatedAtCheckIn(t *testing.T) {
	eachStore(t, func(t *testing.T, dsn string) {
		for _, batch := range []time.Duration{20 * time.Millisecond, 0} {
			t.Run("stamp batch "+batch.String(), func(t *testing.T) {
				kd, _ := keyDir(t)
				r := start(t, dsn, t.TempDir(), kd, func(c *Config) {
					c.DeviceRate = Rate{PerSecond: 1e6, Burst: 1e6}
					c.StampBatch = batch
				})
				var nonce [16]byte
				rand.Read(nonce[:])
				id := "lost-" + strings.ReplaceAll(batch.String(), ".", "_")
				cred, err := r.srv.sign.Director().Credentials().Mint(id, nonce)
				if err != nil {
					t.Fatal(err)
				}
				if c := checkInVia(r.srv.Handler(), id, cred); c != http.StatusOK {
					t.Fatalf("check-in of a device without a row: %d", c)
				}
				// Another deployment's credential, and a random string, for
				// the same device: refused after the store lookup finds
				// nothing.
				other, err := signing.GenerateKey("director", rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				oc, err := signing.NewDeviceCredentials(other)
				if err != nil {
					t.Fatal(err)
				}
				forged, _ := oc.Mint(id, nonce)
				for _, bad := range []string{forged, cred[:len(cred)-2] + "AA", "not-a-credential"} {
					if c := checkInVia(r.srv.Handler(), id, bad); c != http.StatusUnauthorized {
						t.Fatalf("credential %q: %d, want 401", bad, c)
					}
				}
				waitFor(t, func() bool {
					d, err := r.db.DeviceByCredential(t.Context(), delivery.HashSecret(cred))
					return err == nil && d.ID == id && d.Attributes.Class == "high"
				})
			})
		}
	})
}
