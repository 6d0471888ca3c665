package signing

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

func testCredentials(t testing.TB) (*DeviceCredentials, *DeviceCredentials) {
	t.Helper()
	k := newTestKeys(t)
	a, err := NewDeviceCredentials(k.director)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDeviceCredentials(k.timestamp) // another key
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestDeviceCredentialRoundTrip(t *testing.T) {
	c, other := testCredentials(t)
	var nonce [16]byte
	rand.Read(nonce[:])
	cred, err := c.Mint("d0123456789abcdef", nonce)
	if err != nil {
		t.Fatal(err)
	}
	if dev, ok := c.Verify(cred); !ok || dev != "d0123456789abcdef" {
		t.Fatalf("Verify(%q) = %q, %v", cred, dev, ok)
	}
	if len(cred) > 512 {
		t.Fatalf("credential of %d bytes exceeds the bearer limit", len(cred))
	}
	if _, ok := other.Verify(cred); ok {
		t.Fatal("another key's authority accepted the credential")
	}
	// The same key gives the same authority (another replica, a restart).
	k2 := &DeviceCredentials{kid: c.kid, key: c.key}
	if _, ok := k2.Verify(cred); !ok {
		t.Fatal("same key, other instance: rejected")
	}
}

// TestDeviceCredentialRejectsForgeries: every way of altering a valid
// credential — another device, another nonce, a flipped MAC bit, a
// non-canonical spelling, truncation, extra fields — is refused.
func TestDeviceCredentialRejectsForgeries(t *testing.T) {
	c, _ := testCredentials(t)
	cred, err := c.Mint("dev-1", [16]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(cred, ".")
	if len(parts) != 5 {
		t.Fatalf("credential %q has %d parts", cred, len(parts))
	}
	join := func(p ...string) string { return strings.Join(p, ".") }
	mac, _ := base64.RawURLEncoding.DecodeString(parts[4])
	mac[0] ^= 1
	flipped := base64.RawURLEncoding.EncodeToString(mac)
	// The MAC's last character carries 2 unused bits: setting them must
	// not give a second valid spelling.
	last := parts[4][len(parts[4])-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	idx := strings.IndexByte(alphabet, last)
	loose := parts[4][:len(parts[4])-1] + string(alphabet[idx|1])
	if idx|1 == idx {
		loose = parts[4][:len(parts[4])-1] + string(alphabet[idx&^1])
	}
	for name, bad := range map[string]string{
		"other device":   join(parts[0], parts[1], "dev-2", parts[3], parts[4]),
		"other nonce":    join(parts[0], parts[1], parts[2], "AAAAAAAAAAAAAAAAAAAAAA", parts[4]),
		"flipped mac":    join(parts[0], parts[1], parts[2], parts[3], flipped),
		"loose spelling": join(parts[0], parts[1], parts[2], parts[3], loose),
		"other key id":   join(parts[0], "00000000", parts[2], parts[3], parts[4]),
		"other version":  join("sxd2", parts[1], parts[2], parts[3], parts[4]),
		"truncated":      cred[:len(cred)-1],
		"no mac":         join(parts[0], parts[1], parts[2], parts[3]),
		"extra field":    join(parts[0], parts[1], parts[2], "x", parts[3], parts[4]),
		"empty":          "",
		"random secret":  "load-secret-17",
	} {
		if dev, ok := c.Verify(bad); ok {
			t.Errorf("%s: %q accepted as %q", name, bad, dev)
		}
	}
	for _, id := range []string{"", "a.b", "a/b", strings.Repeat("x", MaxDeviceIDLen+1), "dé"} {
		if _, err := c.Mint(id, [16]byte{}); err == nil {
			t.Errorf("minted a credential for device id %q", id)
		}
	}
}

// FuzzDeviceCredentialVerify: Verify never panics, and accepts only the
// exact credential Mint makes for the device and nonce it names.
func FuzzDeviceCredentialVerify(f *testing.F) {
	c, _ := testCredentials(f)
	good, _ := c.Mint("dev-1", [16]byte{9})
	f.Add(good)
	f.Add("sxd1." + c.kid + ".dev-1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("sxd1....")
	f.Add("load-secret-1")
	f.Fuzz(func(t *testing.T, s string) {
		dev, ok := c.Verify(s)
		if !ok {
			return
		}
		parts := strings.Split(s, ".")
		nb, err := base64.RawURLEncoding.DecodeString(parts[3])
		if err != nil || len(nb) != 16 {
			t.Fatalf("accepted %q with nonce %q", s, parts[3])
		}
		again, err := c.Mint(dev, [16]byte(nb))
		if err != nil || again != s {
			t.Fatalf("accepted %q, which Mint spells %q", s, again)
		}
	})
}

func BenchmarkDeviceCredentialVerify(b *testing.B) {
	c, _ := testCredentials(b)
	cred, _ := c.Mint("d0123456789abcdef0123456789abcdef", [16]byte{7})
	for b.Loop() {
		if _, ok := c.Verify(cred); !ok {
			b.Fatal("rejected")
		}
	}
}
