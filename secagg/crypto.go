package secagg

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cloudflare/circl/dh/x25519"

	"github.com/sextant-ml/sextant/secagg/x25519batch"
)

// KeySize is the size of an X25519 public key.
const KeySize = 32

// sealedPlain is the plaintext of a sealed pair of shares: sender, recipient
// (as in Bonawitz et al. Fig. 4, so a box cannot be replayed to another
// pair), then the s_sk share and the b_u share.
const sealedPlain = 4 + 4 + 2*8*ShareChunks

// SealedSize is the size of a sealed pair of shares (AES-GCM adds a 16-byte tag).
const SealedSize = sealedPlain + 16

// HKDF info labels; each derived key has its own, with the round and the
// ordered pair, so keys of different uses, rounds or pairs never coincide.
const (
	labelAEAD = "sextant/secagg/v1 share-aead"
	labelMask = "sextant/secagg/v1 pairwise-mask"
)

// PrivateKey is a round's X25519 key pair (RFC 7748): the 32 private bytes
// as drawn (the scalar is clamped when used) and the public key.
type PrivateKey struct {
	sk, pk x25519.Key
}

// NewKey reads 32 bytes from r and makes an X25519 key pair of them. The
// public key is circl's fixed-base scalar multiplication (x25519.KeyGen),
// half the CPU of crypto/ecdh's NewPrivateKey and the same key
// (TestNewKeyMatchesECDH); taking the bytes from the injected reader keeps
// seeded runs reproducible.
func NewKey(r io.Reader) (*PrivateKey, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("secagg: key randomness: %w", err)
	}
	return KeyFromBytes(b[:])
}

// KeyFromBytes is the key pair of 32 private bytes (a rebuilt s_sk).
func KeyFromBytes(b []byte) (*PrivateKey, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("%w: X25519 private key of %d bytes", ErrBadKey, len(b))
	}
	k := new(PrivateKey)
	copy(k.sk[:], b)
	x25519.KeyGen(&k.pk, &k.sk)
	return k, nil
}

// Bytes returns a copy of the private bytes.
func (k *PrivateKey) Bytes() []byte { return bytes.Clone(k.sk[:]) }

// Public returns the public key.
func (k *PrivateKey) Public() [KeySize]byte { return k.pk }

// agree runs X25519 (RFC 7748) with a peer's public key; a malformed key or
// a low-order point (all-zero output) is ErrBadKey. The ladder is circl's
// (github.com/cloudflare/circl/dh/x25519, BMI2/ADX assembly on amd64), about
// a third cheaper than crypto/ecdh's and the same function
// (TestAgreeMatchesECDH): a client runs 2k of them a round.
func agree(priv *PrivateKey, peer []byte) ([]byte, error) {
	if len(peer) != KeySize {
		return nil, fmt.Errorf("%w: X25519 public key of %d bytes", ErrBadKey, len(peer))
	}
	var pk, out x25519.Key
	copy(pk[:], peer)
	ok := x25519.Shared(&out, &priv.sk, &pk)
	if !ok || out == (x25519.Key{}) {
		return nil, fmt.Errorf("%w: low-order X25519 public key", ErrBadKey)
	}
	return out[:], nil
}

// Agreements is agree of privs[i] with peers[i] for every i, batched:
// x25519batch runs up to eight agreements as the lanes of one AVX-512 IFMA
// ladder where the CPU has it (about a fifth of circl's CPU per agreement),
// else circl's ladder one by one. secrets[i] and errs[i] are what agree
// returns for the pair: the same bytes, the same ErrBadKey for a low-order
// point (TestAgreementsMatchAgree). A client passes its 2k agreements of
// a round (c and s keys) at once, so that few lanes go unused.
func Agreements(privs []*PrivateKey, peers [][KeySize]byte) (secrets [][]byte, errs []error) {
	if len(privs) != len(peers) {
		panic(fmt.Sprintf("secagg: %d private keys for %d peer keys", len(privs), len(peers)))
	}
	scalars := make([][KeySize]byte, len(peers))
	for i, k := range privs {
		scalars[i] = k.sk
	}
	out := make([][KeySize]byte, len(peers))
	ok := make([]bool, len(peers))
	x25519batch.X25519(out, ok, scalars, peers)
	clear(scalars)
	secrets, errs = make([][]byte, len(peers)), make([]error, len(peers))
	for i := range peers {
		if !ok[i] {
			errs[i] = fmt.Errorf("%w: low-order X25519 public key", ErrBadKey)
			continue
		}
		secrets[i] = out[i][:]
	}
	return secrets, errs
}

// derive is HKDF-SHA256 (RFC 5869) of the agreed secret with info
// label ‖ round ‖ min(u,v) ‖ max(u,v).
func derive(secret []byte, label string, round uint64, u, v uint32) [32]byte {
	if u > v {
		u, v = v, u
	}
	var buf [hmacMaxMsg - 1]byte
	info := append(buf[:0], label...)
	info = binary.LittleEndian.AppendUint64(info, round)
	info = binary.LittleEndian.AppendUint32(info, u)
	info = binary.LittleEndian.AppendUint32(info, v)
	return hkdfSHA256(secret, info)
}

// PairwiseSeed returns the seed of the pairwise mask between clients u and v
// from u's s-key and v's s-key public half (symmetric in u, v).
func PairwiseSeed(sPriv *PrivateKey, peerSPub []byte, round uint64, u, v uint32) ([SecretSize]byte, error) {
	s, err := agree(sPriv, peerSPub)
	if err != nil {
		return [SecretSize]byte{}, err
	}
	return derive(s, labelMask, round, u, v), nil
}

// PairwiseSeedWith is PairwiseSeed with the s-key agreement already made
// (Agreements).
func PairwiseSeedWith(secret []byte, round uint64, u, v uint32) [SecretSize]byte {
	return derive(secret, labelMask, round, u, v)
}

func shareAEAD(cPriv *PrivateKey, peerCPub []byte, round uint64, from, to uint32) (cipher.AEAD, []byte, []byte, error) {
	s, err := agree(cPriv, peerCPub)
	if err != nil {
		return nil, nil, nil, err
	}
	return shareAEADOf(s, round, from, to)
}

// ShareSecret is the X25519 agreement of a client's c key with a peer's:
// the same for both directions, so a client that keeps it from sealing its
// shares (step 1) opens the peer's box (step 4) without a second agreement.
func ShareSecret(cPriv *PrivateKey, peerCPub []byte) ([]byte, error) {
	return agree(cPriv, peerCPub)
}

// OpenSharesWith is OpenShares with the agreement already made
// (ShareSecret).
func OpenSharesWith(secret []byte, round uint64, from, to uint32, box []byte) (s, b Share, err error) {
	aead, nonce, ad, err := shareAEADOf(secret, round, from, to)
	if err != nil {
		return s, b, err
	}
	return openShares(aead, nonce, ad, from, to, box)
}

// SealSharesWith is SealShares with the agreement already made.
func SealSharesWith(dst []byte, secret []byte, round uint64, from, to uint32, s, b *Share) ([]byte, error) {
	aead, nonce, ad, err := shareAEADOf(secret, round, from, to)
	if err != nil {
		return dst, err
	}
	return sealShares(dst, aead, nonce, ad, from, to, s, b), nil
}

// BoxKey is the AES-256-GCM key of the boxes between two clients in a
// round, made from their c-key agreement (ShareSecret or Agreements): the
// same for both directions, so a client that keeps it from sealing its
// shares (step 1) opens the peer's box (step 4) without deriving it again.
func BoxKey(secret []byte, round uint64, u, v uint32) (cipher.AEAD, error) {
	k := derive(secret, labelAEAD, round, u, v)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealSharesBox is SealShares with the pair's BoxKey.
func SealSharesBox(dst []byte, key cipher.AEAD, round uint64, from, to uint32, s, b *Share) []byte {
	nonce, ad := boxNonceAD(key, round, from, to)
	return sealShares(dst, key, nonce, ad, from, to, s, b)
}

// OpenSharesBox is OpenShares with the pair's BoxKey.
func OpenSharesBox(key cipher.AEAD, round uint64, from, to uint32, box []byte) (s, b Share, err error) {
	nonce, ad := boxNonceAD(key, round, from, to)
	return openShares(key, nonce, ad, from, to, box)
}

func shareAEADOf(s []byte, round uint64, from, to uint32) (cipher.AEAD, []byte, []byte, error) {
	aead, err := BoxKey(s, round, from, to)
	if err != nil {
		return nil, nil, nil, err
	}
	nonce, ad := boxNonceAD(aead, round, from, to)
	return aead, nonce, ad, nil
}

// boxNonceAD returns the nonce and associated data of the box from → to.
func boxNonceAD(aead cipher.AEAD, round uint64, from, to uint32) (nonce, ad []byte) {
	// The key is fresh per round and pair and seals one box per direction,
	// so the direction is a unique nonce.
	nonce = make([]byte, aead.NonceSize())
	binary.LittleEndian.PutUint32(nonce, from)
	binary.LittleEndian.PutUint32(nonce[4:], to)
	ad = binary.LittleEndian.AppendUint64(nil, round)
	ad = binary.LittleEndian.AppendUint32(ad, from)
	ad = binary.LittleEndian.AppendUint32(ad, to)
	return nonce, ad
}

// SealShares encrypts the shares of s_sk and b_u that client from gives
// client to, under AES-256-GCM keyed by HKDF of their c-key agreement, with
// the round and the pair as associated data.
func SealShares(dst []byte, cPriv *PrivateKey, peerCPub []byte, round uint64, from, to uint32, s, b *Share) ([]byte, error) {
	aead, nonce, ad, err := shareAEAD(cPriv, peerCPub, round, from, to)
	if err != nil {
		return dst, err
	}
	return sealShares(dst, aead, nonce, ad, from, to, s, b), nil
}

func sealShares(dst []byte, aead cipher.AEAD, nonce, ad []byte, from, to uint32, s, b *Share) []byte {
	var p [sealedPlain]byte
	binary.LittleEndian.PutUint32(p[0:], from)
	binary.LittleEndian.PutUint32(p[4:], to)
	for c := range ShareChunks {
		binary.LittleEndian.PutUint64(p[8+8*c:], s.Y[c])
		binary.LittleEndian.PutUint64(p[8+8*ShareChunks+8*c:], b.Y[c])
	}
	return aead.Seal(dst, nonce, p[:], ad)
}

// OpenShares decrypts a box sealed by SealShares, checks that it names the
// expected pair, and returns the two shares (evaluated at to).
func OpenShares(cPriv *PrivateKey, peerCPub []byte, round uint64, from, to uint32, box []byte) (s, b Share, err error) {
	aead, nonce, ad, err := shareAEAD(cPriv, peerCPub, round, from, to)
	if err != nil {
		return s, b, err
	}
	return openShares(aead, nonce, ad, from, to, box)
}

func openShares(aead cipher.AEAD, nonce, ad []byte, from, to uint32, box []byte) (s, b Share, err error) {
	p, err := aead.Open(nil, nonce, box, ad)
	if err != nil || len(p) != sealedPlain {
		return s, b, fmt.Errorf("%w: from %d to %d", ErrDecrypt, from, to)
	}
	if binary.LittleEndian.Uint32(p[0:]) != from || binary.LittleEndian.Uint32(p[4:]) != to {
		return s, b, fmt.Errorf("%w: box names another pair", ErrDecrypt)
	}
	s.X, b.X = to, to
	for c := range ShareChunks {
		s.Y[c] = binary.LittleEndian.Uint64(p[8+8*c:])
		b.Y[c] = binary.LittleEndian.Uint64(p[8+8*ShareChunks+8*c:])
		if s.Y[c] >= fieldP || b.Y[c] >= fieldP {
			return s, b, fmt.Errorf("%w: share outside the field", ErrDecrypt)
		}
	}
	return s, b, nil
}

// Identity signatures of the consistency-check variant (Ed25519, RFC 8032).

// NewIdentity reads a 32-byte seed from r and returns the Ed25519 key.
func NewIdentity(r io.Reader) (ed25519.PrivateKey, error) {
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("secagg: identity randomness: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed[:]), nil
}

func keysStatement(round uint64, id uint32, cpk, spk []byte) []byte {
	m := append([]byte("sextant/secagg/v1 keys"), 0)
	m = binary.LittleEndian.AppendUint64(m, round)
	m = binary.LittleEndian.AppendUint32(m, id)
	m = append(m, cpk...)
	return append(m, spk...)
}

func survivorsStatement(round uint64, ids []uint32) []byte {
	m := append([]byte("sextant/secagg/v1 survivors"), 0)
	m = binary.LittleEndian.AppendUint64(m, round)
	for _, id := range ids {
		m = binary.LittleEndian.AppendUint32(m, id)
	}
	return m
}

// SignKeys signs a client's advertised keys for a round.
func SignKeys(priv ed25519.PrivateKey, round uint64, id uint32, cpk, spk []byte) []byte {
	return ed25519.Sign(priv, keysStatement(round, id, cpk, spk))
}

// VerifyKeys checks a signature made by SignKeys.
func VerifyKeys(pub ed25519.PublicKey, round uint64, id uint32, cpk, spk, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, keysStatement(round, id, cpk, spk), sig)
}

// SignSurvivors signs the survivor set U3 (sorted ids) of a round.
func SignSurvivors(priv ed25519.PrivateKey, round uint64, ids []uint32) []byte {
	return ed25519.Sign(priv, survivorsStatement(round, ids))
}

// VerifySurvivors checks a signature made by SignSurvivors.
func VerifySurvivors(pub ed25519.PublicKey, round uint64, ids []uint32, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, survivorsStatement(round, ids), sig)
}
