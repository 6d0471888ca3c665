package signing

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Key is an ed25519 signing key of one role. A Key read from metadata has
// only its public half and cannot sign.
type Key struct {
	// Role is the role the key signs for ("root", "targets", "snapshot",
	// "timestamp", "director").
	Role string
	// ID is the TUF key ID: the SHA-256 of the key's canonical JSON.
	ID string
	// Public is the public half.
	Public ed25519.PublicKey

	private ed25519.PrivateKey
}

// GenerateKey makes a new ed25519 key for role from rand (crypto/rand.Reader
// in production).
func GenerateKey(role string, rand io.Reader) (*Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("signing: generate %s key: %w", role, err)
	}
	return newKey(role, pub, priv)
}

func newKey(role string, pub ed25519.PublicKey, priv ed25519.PrivateKey) (*Key, error) {
	tk, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("signing: %s key: %w", role, err)
	}
	id, err := tk.ID()
	if err != nil {
		return nil, fmt.Errorf("signing: %s key ID: %w", role, err)
	}
	return &Key{Role: role, ID: id, Public: pub, private: priv}, nil
}

// CanSign reports whether k holds its private half.
func (k *Key) CanSign() bool { return k.private != nil }

// PublicOnly returns k without its private half.
func (k *Key) PublicOnly() *Key {
	return &Key{Role: k.Role, ID: k.ID, Public: k.Public}
}

// tufKey returns k as a TUF metadata key.
func (k *Key) tufKey() *metadata.Key {
	tk, _ := metadata.KeyFromPublicKey(k.Public) // ed25519 never fails
	return tk
}

func (k *Key) signer() (signature.Signer, error) {
	if k.private == nil {
		return nil, fmt.Errorf("signing: %s key %s: %w", k.Role, short(k.ID), ErrNoPrivateKey)
	}
	return signature.LoadED25519Signer(k.private)
}

// keyFile is the on-disk form of a key (inside age encryption for offline
// roles).
type keyFile struct {
	Role    string `json:"role"`
	KeyType string `json:"keytype"`
	KeyID   string `json:"keyid"`
	Public  string `json:"public"`
	Seed    string `json:"seed,omitempty"`
}

// MarshalPrivate encodes k with its private seed.
func (k *Key) MarshalPrivate() ([]byte, error) {
	if k.private == nil {
		return nil, fmt.Errorf("signing: marshal %s key: %w", k.Role, ErrNoPrivateKey)
	}
	return json.MarshalIndent(keyFile{
		Role: k.Role, KeyType: metadata.KeyTypeEd25519, KeyID: k.ID,
		Public: hex.EncodeToString(k.Public), Seed: hex.EncodeToString(k.private.Seed()),
	}, "", "  ")
}

// UnmarshalKey decodes a key written by MarshalPrivate.
func UnmarshalKey(data []byte) (*Key, error) {
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("signing: key file: %w", err)
	}
	if f.KeyType != metadata.KeyTypeEd25519 {
		return nil, fmt.Errorf("signing: key file: key type %q, want ed25519", f.KeyType)
	}
	seed, err := hex.DecodeString(f.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing: key file: bad seed")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k, err := newKey(f.Role, priv.Public().(ed25519.PublicKey), priv)
	if err != nil {
		return nil, err
	}
	if f.KeyID != "" && f.KeyID != k.ID {
		return nil, fmt.Errorf("signing: key file: key ID %s does not match its key %s", short(f.KeyID), short(k.ID))
	}
	return k, nil
}

// short abbreviates a key ID for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// SignerFromKeyFile returns a go-tuf signer for a key written by
// MarshalPrivate (for tools that sign go-tuf metadata directly).
func SignerFromKeyFile(data []byte) (signature.Signer, error) {
	k, err := UnmarshalKey(data)
	if err != nil {
		return nil, err
	}
	return k.signer()
}
