package signing

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// DeviceCredentials mints and verifies device credentials that prove
// themselves: "sxd1.<key>.<device>.<nonce>.<mac>", where mac is an
// HMAC-SHA256 of everything before it under a key derived (HKDF-SHA256,
// its own info string) from the director's online key, and <key> names
// that key. A server holding the director key authenticates such a
// credential, and learns its device, without a database lookup; the store
// keeps the credential's hash as for any credential, so a server that
// cannot verify it (another director key after a rotation, say) falls
// back to the lookup.
//
// What the MAC proves is that this deployment issued the credential to
// that device; it does not say the device still exists. Sextant has no
// device revocation yet; one would need a deny-list consulted beside the
// MAC (small, cacheable, pushed by NOTIFY), as the credential hash lookup
// would no longer run for these credentials.
type DeviceCredentials struct {
	kid string
	key []byte
}

const (
	credentialVersion = "sxd1"
	// credentialKeyID is how many hex digits of the director key's ID a
	// credential carries.
	credentialKeyID = 8
	// MaxDeviceIDLen bounds a device ID a credential may name.
	MaxDeviceIDLen = 64
	credentialInfo = "sextant device credential v1"
)

// NewDeviceCredentials returns the credential authority of director key k
// (which must hold its private half).
func NewDeviceCredentials(k *Key) (*DeviceCredentials, error) {
	if k.private == nil {
		return nil, fmt.Errorf("signing: device credentials from %s key %s: %w", k.Role, short(k.ID), ErrNoPrivateKey)
	}
	if len(k.ID) < credentialKeyID {
		return nil, fmt.Errorf("signing: device credentials: key ID %q too short", k.ID)
	}
	key, err := hkdf.Key(sha256.New, k.private.Seed(), nil, credentialInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("signing: device credentials: %w", err)
	}
	return &DeviceCredentials{kid: k.ID[:credentialKeyID], key: key}, nil
}

// ValidDeviceID reports whether id can be named in a credential: 1 to
// MaxDeviceIDLen letters, digits, '-' or '_'.
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > MaxDeviceIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Mint returns the credential of device with the given nonce (16 random
// bytes for a real device; a load generator may derive them).
func (c *DeviceCredentials) Mint(device string, nonce [16]byte) (string, error) {
	if !ValidDeviceID(device) {
		return "", fmt.Errorf("signing: device credential: bad device id %q", device)
	}
	enc := base64.RawURLEncoding
	b := make([]byte, 0, len(credentialVersion)+len(c.kid)+len(device)+3+enc.EncodedLen(16)+1+enc.EncodedLen(sha256.Size))
	b = append(b, credentialVersion...)
	b = append(b, '.')
	b = append(b, c.kid...)
	b = append(b, '.')
	b = append(b, device...)
	b = append(b, '.')
	b = enc.AppendEncode(b, nonce[:])
	m := c.mac(b)
	b = append(b, '.')
	b = enc.AppendEncode(b, m[:])
	return string(b), nil
}

func (c *DeviceCredentials) mac(msg []byte) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key)
	h.Write(msg)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// Verify returns the device a credential was minted for, and false if it
// is not one of this authority's credentials (malformed, another key, a
// bad MAC). It runs in constant time in the MAC.
func (c *DeviceCredentials) Verify(credential string) (string, bool) {
	body, sum, ok := cutLast(credential, '.')
	if !ok || len(sum) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return "", false
	}
	rest, ok := strings.CutPrefix(body, credentialVersion+".")
	if !ok {
		return "", false
	}
	kid, rest, ok := strings.Cut(rest, ".")
	if !ok || kid != c.kid {
		return "", false
	}
	device, nonce, ok := strings.Cut(rest, ".")
	if !ok || !ValidDeviceID(device) || len(nonce) != base64.RawURLEncoding.EncodedLen(16) {
		return "", false
	}
	var got [sha256.Size]byte
	if n, err := strictB64.Decode(got[:], []byte(sum)); err != nil || n != len(got) {
		return "", false
	}
	want := c.mac([]byte(body))
	if !hmac.Equal(got[:], want[:]) {
		return "", false
	}
	return device, true
}

// strictB64 refuses non-zero trailing bits, so that a credential has one
// spelling (its hash is its identity in the store and the device cache).
var strictB64 = base64.RawURLEncoding.Strict()

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}
